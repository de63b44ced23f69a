// Where the server's refusal of a chain spec belongs on the page. PUT /chain answers one
// problem per line, each starting with where it is, in the spec's own terms:
//   filters[0].fuel: must be an integer >= 1000, not 5          (the schema: a field)
//   chains.api[1] (auth): proxy_on_configure returned false ...  (the filter refused its config)
//   filters[2] (tag): filter tag has no version 9 (versions: 1, 2)
//   routes[0].chain: no chain named "x"                          (not about one entry)
// Pure functions, so Node's test runner checks them too.

const ENTRY = /^(filters|chains\.([A-Za-z0-9_-]+))\[(\d+)\](?: \([^)]*\))?(?:\.([A-Za-z_]+)[^:]*)?: /;

/** The chain key of the default chain (as the spec's `filters`). */
export const DEFAULT_CHAIN = 'default';

/**
 * One entry per line: `{chain, index, field, message}` for a problem of one filter entry
 * (`field` undefined when it is about the entry as a whole), `{message}` for anything else.
 */
export function placeProblems(errorText) {
  return errorText
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((message) => {
      const match = ENTRY.exec(message);
      if (match === null) return { message };
      return { chain: match[2] ?? DEFAULT_CHAIN, index: Number(match[3]), field: match[4] ?? fieldOf(message.slice(match[0].length)), message };
    });
}

/** A problem without a field path, by what it says. */
function fieldOf(text) {
  if (/proxy_on_configure|configuration/.test(text)) return 'config';
  if (/has no version|is not in the registry/.test(text)) return 'version';
  return undefined;
}
