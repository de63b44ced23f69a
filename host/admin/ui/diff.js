// A line diff (longest common subsequence) of two texts: what the history shows between a
// revision's spec and the one it replaced. Specs are a few hundred lines at most.

/** `[{op: ' ' | '-' | '+', line}]`; an empty text has no lines (a first revision is all additions). */
export function diffLines(before, after) {
  const lines = (text) => (text === '' ? [] : text.split('\n'));
  const a = lines(before);
  const b = lines(after);
  // common[i][j]: length of the LCS of a[i..] and b[j..]
  const common = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) common[i][j] = a[i] === b[j] ? common[i + 1][j + 1] + 1 : Math.max(common[i + 1][j], common[i][j + 1]);
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push({ op: ' ', line: a[i] });
      i++;
      j++;
    } else if (i < a.length && (j === b.length || common[i + 1][j] >= common[i][j + 1])) {
      // Removals before additions, as diff -u shows a changed line.
      out.push({ op: '-', line: a[i++] });
    } else {
      out.push({ op: '+', line: b[j++] });
    }
  }
  return out;
}
