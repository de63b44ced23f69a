// Turns zod issues into the one-line-per-problem messages `weft validate` prints:
// `<field path>: <what is wrong>`, e.g. `clusters[1].endpoints[0]: "abc" is not host:port`.

import type { z } from 'zod';

/** `['clusters', 1, 'endpoints', 0]` -> `clusters[1].endpoints[0]`; the empty path is the whole manifest. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? 'manifest' : out;
}

/** A value as a user recognises it from the YAML they wrote. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return JSON.stringify(value) ?? String(value);
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
};

/** `a or b`, or `one of: a, b, c` */
function oneOf(values: ReadonlyArray<unknown>): string {
  const names = values.map(String);
  return names.length <= 2 ? names.join(' or ') : `one of: ${names.join(', ')}`;
}

/**
 * The messages for problems no field of the schema words itself (missing keys, wrong types,
 * enum values, empty lists). Passed as the per-parse error map; a field's own `error` wins.
 */
export const manifestErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `must be ${TYPE_NAMES[issue.expected] ?? issue.expected}, not ${describeValue(issue.input)}`;
    case 'invalid_value':
      return `must be ${oneOf(issue.values)}`;
    case 'invalid_union':
      // A discriminated union (store.kind) whose discriminator matches no option.
      if ('options' in issue && Array.isArray(issue.options)) {
        return `must be ${oneOf(issue.options)}`;
      }
      return undefined;
    case 'too_small':
      if (issue.origin === 'array') return 'must not be empty';
      return undefined;
    default:
      return undefined;
  }
};

/**
 * One line per problem; an unknown-keys issue becomes one line per key. For a value that may
 * take several forms (a union, e.g. an endpoint written as "host:port" or {address, weight}),
 * the problems of the one form the value was written in are reported; only when no form fits
 * its type does the union's own message stand.
 */
export function formatIssues(issues: ReadonlyArray<z.core.$ZodIssue>, prefix: ReadonlyArray<PropertyKey> = []): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) lines.push(`${formatPath([...path, key])}: unknown key`);
      continue;
    }
    if (issue.code === 'invalid_union') {
      const matchingForms = issue.errors.filter((form) => !isWrongType(form));
      if (matchingForms.length === 1) {
        lines.push(...formatIssues(matchingForms[0]!, path));
        continue;
      }
    }
    lines.push(`${formatPath(path)}: ${issue.message}`);
  }
  return lines;
}

/** True when a union member failed only because the value is not of its type at all. */
function isWrongType(formIssues: ReadonlyArray<z.core.$ZodIssue>): boolean {
  return formIssues.length === 1 && formIssues[0]!.code === 'invalid_type' && formIssues[0]!.path.length === 0;
}
