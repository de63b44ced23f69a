// A small regular-expression engine for route matching. A pattern is parsed once, at configure
// time, into a Thompson NFA; matching runs it as a Pike VM (the set of live states stepped over
// the input), so time is linear in input length × pattern size and no pattern can make a request
// backtrack exponentially. Matching allocates nothing: the state lists belong to the compiled
// regex (a VM runs one request at a time).
//
// Syntax (a subset of RE2 / JavaScript):
//   literals, and `\` before any punctuation for the character itself (\. \/ \( \\ ...)
//   .                 any character
//   [abc] [a-z0-9_]   character classes; [^...] negated; escapes work inside
//   \d \D \w \W \s \S digit, word character, blank (and their complements), also inside classes
//   ( ) (?: )         groups (they only group: nothing is captured)
//   a|b               alternation
//   * + ? {n} {n,} {n,m}   repetition (a trailing `?` for laziness is accepted: same result)
//   ^ $               start and end of the input
// Semantics are a search, as in JavaScript's RegExp.test and nginx: the pattern may match
// anywhere; anchor it with ^...$ to match the whole input.

const OP_CHAR: i32 = 0;
const OP_ANY: i32 = 1;
const OP_CLASS: i32 = 2;
const OP_SPLIT: i32 = 3;
const OP_JMP: i32 = 4;
const OP_BOL: i32 = 5;
const OP_EOL: i32 = 6;
const OP_MATCH: i32 = 7;

/** Largest count allowed in {n,m}: repetition is expanded, so it bounds the program size. */
const MAX_REPEAT: i32 = 100;
/** Largest program, in instructions. */
const MAX_PROGRAM: i32 = 10000;
const MAX_DEPTH: i32 = 100;

class CharClass {
  /** Inclusive ranges as pairs: lo0, hi0, lo1, hi1, ... */
  ranges: Array<i32> = [];
  negated: bool = false;

  addRange(lo: i32, hi: i32): void {
    this.ranges.push(lo);
    this.ranges.push(hi);
  }

  matches(c: i32): bool {
    const ranges = this.ranges;
    let inside = false;
    for (let i = 0; i < ranges.length; i += 2) {
      if (c >= unchecked(ranges[i]) && c <= unchecked(ranges[i + 1])) {
        inside = true;
        break;
      }
    }
    return inside != this.negated;
  }
}

const NODE_CHAR: i32 = 0;
const NODE_ANY: i32 = 1;
const NODE_CLASS: i32 = 2;
const NODE_BOL: i32 = 3;
const NODE_EOL: i32 = 4;
const NODE_CONCAT: i32 = 5;
const NODE_ALTERNATION: i32 = 6;
const NODE_REPEAT: i32 = 7;

/** Parse tree node. A repeat has one child and min..max (max -1 = unbounded). */
class Node {
  kind: i32;
  value: i32 = 0;
  min: i32 = 0;
  max: i32 = 0;
  children: Array<Node> = [];

  constructor(kind: i32) {
    this.kind = kind;
  }
}

/** Compiles `pattern`; `regex.error` is non-empty (with the position) when it is not valid. */
export function compileRegex(pattern: string): Regex {
  const parser = new Parser(pattern);
  const tree = parser.parse();
  const regex = new Regex(pattern);
  if (tree === null) {
    regex.error = parser.error;
    return regex;
  }
  regex.classes = parser.classes;
  const emitter = new Emitter();
  emitter.emit(tree);
  emitter.add(OP_MATCH, 0, 0);
  if (emitter.op.length > MAX_PROGRAM) {
    regex.error = "pattern too large (over " + MAX_PROGRAM.toString() + " instructions once repetitions are expanded)";
    return regex;
  }
  regex.load(emitter);
  return regex;
}

export class Regex {
  readonly source: string;
  error: string = "";
  classes: Array<CharClass> = [];
  private op: StaticArray<i32> = new StaticArray<i32>(0);
  private x: StaticArray<i32> = new StaticArray<i32>(0);
  private y: StaticArray<i32> = new StaticArray<i32>(0);
  // Pike VM scratch, sized to the program: current and next state lists, the generation each
  // state was last added in (to add it once per step), and the stack for following epsilons.
  private current: StaticArray<i32> = new StaticArray<i32>(0);
  private next: StaticArray<i32> = new StaticArray<i32>(0);
  private marks: StaticArray<i32> = new StaticArray<i32>(0);
  private stack: StaticArray<i32> = new StaticArray<i32>(0);
  private generation: i32 = 0;
  private anchoredAtStart: bool = false;
  private matched: bool = false;

  constructor(source: string) {
    this.source = source;
  }

  load(emitter: Emitter): void {
    const size = emitter.op.length;
    this.op = StaticArray.fromArray<i32>(emitter.op);
    this.x = StaticArray.fromArray<i32>(emitter.x);
    this.y = StaticArray.fromArray<i32>(emitter.y);
    this.current = new StaticArray<i32>(size);
    this.next = new StaticArray<i32>(size);
    this.marks = new StaticArray<i32>(size);
    this.stack = new StaticArray<i32>(2 * size + 2);
    this.anchoredAtStart = size > 0 && this.op[0] == OP_BOL;
  }

  get valid(): bool {
    return this.error.length == 0;
  }

  /** Whether the pattern matches somewhere in `text`. */
  test(text: string): bool {
    return this.testRange(text, text.length);
  }

  /** Whether the pattern matches somewhere in text[0, end) (e.g. a path without its query). */
  testRange(text: string, end: i32): bool {
    this.matched = false;
    let current = this.current;
    let next = this.next;
    this.newGeneration();
    let count = this.addState(current, 0, 0, 0, end);
    for (let pos = 0; pos < end; pos++) {
      if (this.matched) return true;
      if (count == 0 && this.anchoredAtStart) return false;
      const c = <i32>text.charCodeAt(pos);
      this.newGeneration();
      let nextCount = 0;
      for (let i = 0; i < count; i++) {
        const pc = unchecked(current[i]);
        const op = unchecked(this.op[pc]);
        let advance = false;
        if (op == OP_CHAR) advance = c == unchecked(this.x[pc]);
        else if (op == OP_ANY) advance = true;
        else if (op == OP_CLASS) advance = unchecked(this.classes[unchecked(this.x[pc])]).matches(c);
        if (advance) nextCount = this.addState(next, nextCount, pc + 1, pos + 1, end);
      }
      // A search: a match may also start at the next position.
      nextCount = this.addState(next, nextCount, 0, pos + 1, end);
      const swap = current;
      current = next;
      next = swap;
      count = nextCount;
    }
    return this.matched;
  }

  private newGeneration(): void {
    this.generation++;
    if (this.generation == i32.MAX_VALUE) {
      // Wrapped: forget every mark (once in two billion steps).
      this.generation = 1;
      for (let i = 0; i < this.marks.length; i++) unchecked((this.marks[i] = 0));
    }
  }

  /**
   * Adds state `start` and every state reachable from it without consuming input to `list`
   * (holding `count` states, all added in the current generation); returns the new count.
   * Reaching the final state sets `matched`.
   */
  private addState(list: StaticArray<i32>, count: i32, start: i32, pos: i32, end: i32): i32 {
    const generation = this.generation;
    const stack = this.stack;
    let top = 0;
    unchecked((stack[top++] = start));
    while (top > 0) {
      const pc = unchecked(stack[--top]);
      if (unchecked(this.marks[pc]) == generation) continue;
      unchecked((this.marks[pc] = generation));
      const op = unchecked(this.op[pc]);
      if (op == OP_JMP) {
        unchecked((stack[top++] = this.x[pc]));
      } else if (op == OP_SPLIT) {
        unchecked((stack[top++] = this.y[pc]));
        unchecked((stack[top++] = this.x[pc]));
      } else if (op == OP_BOL) {
        if (pos == 0) unchecked((stack[top++] = pc + 1));
      } else if (op == OP_EOL) {
        if (pos == end) unchecked((stack[top++] = pc + 1));
      } else if (op == OP_MATCH) {
        this.matched = true;
      } else {
        unchecked((list[count++] = pc));
      }
    }
    return count;
  }
}

/** Turns a parse tree into instructions (op, x, y). */
class Emitter {
  op: Array<i32> = [];
  x: Array<i32> = [];
  y: Array<i32> = [];

  add(op: i32, x: i32, y: i32): i32 {
    this.op.push(op);
    this.x.push(x);
    this.y.push(y);
    return this.op.length - 1;
  }

  emit(node: Node): void {
    // Give up early on huge expansions; compileRegex reports the size.
    if (this.op.length > MAX_PROGRAM) return;
    const kind = node.kind;
    if (kind == NODE_CHAR) {
      this.add(OP_CHAR, node.value, 0);
    } else if (kind == NODE_ANY) {
      this.add(OP_ANY, 0, 0);
    } else if (kind == NODE_CLASS) {
      this.add(OP_CLASS, node.value, 0);
    } else if (kind == NODE_BOL) {
      this.add(OP_BOL, 0, 0);
    } else if (kind == NODE_EOL) {
      this.add(OP_EOL, 0, 0);
    } else if (kind == NODE_CONCAT) {
      for (let i = 0; i < node.children.length; i++) this.emit(node.children[i]);
    } else if (kind == NODE_ALTERNATION) {
      this.emitAlternation(node.children, 0);
    } else {
      this.emitRepeat(node);
    }
  }

  // a|b|c as SPLIT(a, SPLIT(b, c)), each branch jumping to the end.
  private emitAlternation(branches: Array<Node>, from: i32): void {
    if (from == branches.length - 1) {
      this.emit(branches[from]);
      return;
    }
    const split = this.add(OP_SPLIT, 0, 0);
    this.x[split] = this.op.length;
    this.emit(branches[from]);
    const jump = this.add(OP_JMP, 0, 0);
    this.y[split] = this.op.length;
    this.emitAlternation(branches, from + 1);
    this.x[jump] = this.op.length;
  }

  // e{min,max}: e repeated min times, then e* (unbounded) or (max - min) optional copies.
  private emitRepeat(node: Node): void {
    const child = node.children[0];
    for (let i = 0; i < node.min; i++) this.emit(child);
    if (node.max < 0) {
      const split = this.add(OP_SPLIT, 0, 0);
      this.x[split] = this.op.length;
      this.emit(child);
      this.add(OP_JMP, split, 0);
      this.y[split] = this.op.length;
      return;
    }
    for (let i = node.min; i < node.max; i++) {
      const split = this.add(OP_SPLIT, 0, 0);
      this.x[split] = this.op.length;
      this.emit(child);
      this.y[split] = this.op.length;
    }
  }
}

/** Recursive descent over the pattern; on error returns null and sets `error`. */
class Parser {
  private readonly source: string;
  private pos: i32 = 0;
  error: string = "";
  classes: Array<CharClass> = [];

  constructor(source: string) {
    this.source = source;
  }

  parse(): Node | null {
    const tree = this.parseAlternation(0);
    if (tree === null) return null;
    if (this.pos < this.source.length) return this.fail("unmatched ')'");
    return tree;
  }

  private fail(reason: string): Node | null {
    if (this.error.length == 0) this.error = reason + " at offset " + this.pos.toString();
    return null;
  }

  private peek(): i32 {
    return this.pos < this.source.length ? this.source.charCodeAt(this.pos) : -1;
  }

  private parseAlternation(depth: i32): Node | null {
    if (depth > MAX_DEPTH) return this.fail("groups nested too deeply");
    const first = this.parseConcat(depth);
    if (first === null) return null;
    if (this.peek() != 0x7c /* | */) return first;
    const alternation = new Node(NODE_ALTERNATION);
    alternation.children.push(first);
    while (this.peek() == 0x7c) {
      this.pos++;
      const branch = this.parseConcat(depth);
      if (branch === null) return null;
      alternation.children.push(branch);
    }
    return alternation;
  }

  private parseConcat(depth: i32): Node | null {
    const concat = new Node(NODE_CONCAT);
    let c = this.peek();
    while (c >= 0 && c != 0x7c /* | */ && c != 0x29 /* ) */) {
      const atom = this.parseRepeat(depth);
      if (atom === null) return null;
      concat.children.push(atom);
      c = this.peek();
    }
    return concat;
  }

  private parseRepeat(depth: i32): Node | null {
    const first = this.parseAtom(depth);
    if (first === null) return null;
    let atom: Node = first;
    while (isQuantifier(this.peek())) {
      const c = this.peek();
      let min: i32 = 0;
      let max: i32 = 0;
      if (c == 0x2a /* * */) {
        min = 0;
        max = -1;
        this.pos++;
      } else if (c == 0x2b /* + */) {
        min = 1;
        max = -1;
        this.pos++;
      } else if (c == 0x3f /* ? */) {
        min = 0;
        max = 1;
        this.pos++;
      } else {
        // {n} {n,} {n,m}
        const start = this.pos;
        this.pos++;
        min = this.parseCount();
        if (min < 0) return this.fail("expected a count after '{'");
        max = min;
        if (this.peek() == 0x2c /* , */) {
          this.pos++;
          if (this.peek() == 0x7d /* } */) {
            max = -1;
          } else {
            max = this.parseCount();
            if (max < 0) return this.fail("expected a count or '}' after ','");
          }
        }
        if (this.peek() != 0x7d /* } */) return this.fail("expected '}'");
        this.pos++;
        if (min > MAX_REPEAT || max > MAX_REPEAT) {
          this.pos = start;
          return this.fail("repeat count over " + MAX_REPEAT.toString());
        }
        if (max >= 0 && max < min) {
          this.pos = start;
          return this.fail("repeat {n,m} with m < n");
        }
      }
      const kind = atom.kind;
      if (kind == NODE_BOL || kind == NODE_EOL) return this.fail("nothing to repeat");
      if (this.peek() == 0x3f /* lazy ? */) this.pos++;
      const repeat = new Node(NODE_REPEAT);
      repeat.min = min;
      repeat.max = max;
      repeat.children.push(atom);
      atom = repeat;
    }
    return atom;
  }

  /** A decimal count (growing no further once over MAX_REPEAT), or -1 when there are no digits. */
  private parseCount(): i32 {
    const start = this.pos;
    let value: i32 = 0;
    while (this.peek() >= 0x30 && this.peek() <= 0x39) {
      if (value <= MAX_REPEAT) value = value * 10 + (this.peek() - 0x30);
      this.pos++;
    }
    return this.pos == start ? -1 : value;
  }

  private parseAtom(depth: i32): Node | null {
    const c = this.peek();
    if (c == 0x28 /* ( */) {
      this.pos++;
      if (this.source.startsWith("?:", this.pos)) this.pos += 2;
      else if (this.peek() == 0x3f) return this.fail("unsupported group syntax '(?'");
      const inner = this.parseAlternation(depth + 1);
      if (inner === null) return null;
      if (this.peek() != 0x29 /* ) */) return this.fail("missing ')'");
      this.pos++;
      return inner;
    }
    if (isQuantifier(c)) return this.fail("nothing to repeat");
    this.pos++;
    if (c == 0x2e /* . */) return new Node(NODE_ANY);
    if (c == 0x5e /* ^ */) return new Node(NODE_BOL);
    if (c == 0x24 /* $ */) return new Node(NODE_EOL);
    if (c == 0x5b /* [ */) return this.parseClass();
    if (c == 0x5c /* \ */) return this.parseEscape();
    const literal = new Node(NODE_CHAR);
    literal.value = c;
    return literal;
  }

  /** After '\' outside a class: a class shorthand or an escaped character. */
  private parseEscape(): Node | null {
    const c = this.peek();
    if (c < 0) return this.fail("pattern ends with '\\'");
    this.pos++;
    const shorthand = new CharClass();
    if (addShorthand(shorthand, c)) {
      const node = new Node(NODE_CLASS);
      node.value = this.addClass(shorthand);
      return node;
    }
    const literal = escapedLiteral(c);
    if (literal < 0) {
      this.pos--;
      return this.fail("unsupported escape '\\" + String.fromCharCode(c) + "'");
    }
    const node = new Node(NODE_CHAR);
    node.value = literal;
    return node;
  }

  /** After '[': ranges, single characters and shorthands up to ']'. */
  private parseClass(): Node | null {
    const charClass = new CharClass();
    if (this.peek() == 0x5e /* ^ */) {
      charClass.negated = true;
      this.pos++;
    }
    let first = true;
    for (;;) {
      let c = this.peek();
      if (c < 0) return this.fail("missing ']'");
      if (c == 0x5d /* ] */ && !first) break;
      first = false;
      this.pos++;
      if (c == 0x5c /* \ */) {
        const e = this.peek();
        if (e < 0) return this.fail("missing ']'");
        this.pos++;
        if (addShorthand(charClass, e)) continue;
        c = escapedLiteral(e);
        if (c < 0) {
          this.pos--;
          return this.fail("unsupported escape '\\" + String.fromCharCode(e) + "' in a class");
        }
      }
      // A range a-z, unless the '-' is the last character of the class.
      if (this.peek() == 0x2d /* - */ && this.pos + 1 < this.source.length && this.source.charCodeAt(this.pos + 1) != 0x5d) {
        this.pos++;
        let hi = this.peek();
        if (hi == 0x5c /* \ */) {
          this.pos++;
          hi = escapedLiteral(this.peek());
          if (hi < 0) return this.fail("bad range end in a class");
        }
        this.pos++;
        if (hi < c) return this.fail("range out of order in a class");
        charClass.addRange(c, hi);
      } else {
        charClass.addRange(c, c);
      }
    }
    this.pos++;
    const node = new Node(NODE_CLASS);
    node.value = this.addClass(charClass);
    return node;
  }

  private addClass(charClass: CharClass): i32 {
    this.classes.push(charClass);
    return this.classes.length - 1;
  }
}

/** * + ? or {. */
function isQuantifier(c: i32): bool {
  return c == 0x2a || c == 0x2b || c == 0x3f || c == 0x7b;
}

/** Adds \d \w \s (or their complements \D \W \S) to `target`; false for any other letter. */
function addShorthand(target: CharClass, letter: i32): bool {
  const lower = letter | 0x20;
  if (lower != 0x64 /* d */ && lower != 0x77 /* w */ && lower != 0x73 /* s */) return false;
  const negate = letter != lower;
  const set = new CharClass();
  if (lower == 0x64) {
    set.addRange(0x30, 0x39);
  } else if (lower == 0x77) {
    set.addRange(0x30, 0x39);
    set.addRange(0x41, 0x5a);
    set.addRange(0x61, 0x7a);
    set.addRange(0x5f, 0x5f);
  } else {
    set.addRange(0x20, 0x20);
    set.addRange(0x09, 0x0d); // \t \n \v \f \r
  }
  if (!negate) {
    for (let i = 0; i < set.ranges.length; i++) target.ranges.push(set.ranges[i]);
    return true;
  }
  // The complement of a sorted set of ranges over the UTF-16 code units.
  const sorted = set.ranges;
  sortRanges(sorted);
  let from = 0;
  for (let i = 0; i < sorted.length; i += 2) {
    if (sorted[i] > from) target.addRange(from, sorted[i] - 1);
    from = sorted[i + 1] + 1;
  }
  if (from <= 0xffff) target.addRange(from, 0xffff);
  return true;
}

/** Sorts range pairs by their start (a handful of pairs: insertion sort). */
function sortRanges(ranges: Array<i32>): void {
  for (let i = 2; i < ranges.length; i += 2) {
    const lo = ranges[i];
    const hi = ranges[i + 1];
    let j = i - 2;
    while (j >= 0 && ranges[j] > lo) {
      ranges[j + 2] = ranges[j];
      ranges[j + 3] = ranges[j + 1];
      j -= 2;
    }
    ranges[j + 2] = lo;
    ranges[j + 3] = hi;
  }
}

/** The character an escape stands for (\n \t \r, or punctuation as itself); -1 if unsupported. */
function escapedLiteral(c: i32): i32 {
  if (c == 0x6e) return 0x0a; // \n
  if (c == 0x74) return 0x09; // \t
  if (c == 0x72) return 0x0d; // \r
  const isLetterOrDigit = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
  return c < 0 || isLetterOrDigit ? -1 : c;
}
