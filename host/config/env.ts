// `${VAR}` and `${VAR:-default}` in manifest strings.
//
// Expansion happens in two steps around the YAML parser, for two reasons:
// - `token: ${WEFT_ADMIN_TOKEN}` inside a flow mapping (`admin: { ... }`) is not valid YAML
//   (`{` and `}` are flow indicators), yet that is how the docs write it. So before parsing,
//   every reference is swapped for an alphanumeric placeholder that is a valid plain scalar
//   anywhere.
// - Values are substituted after parsing, into the parsed strings, so a value containing
//   YAML syntax (`:`, `#`, `}`) can never change the manifest's structure, and an unset
//   variable is reported with the field it appears in.

import { randomBytes } from 'node:crypto';

const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

interface EnvReference {
  /** The reference as written, e.g. `${PORT:-8080}`. */
  source: string;
  name: string;
  /** The text after `:-`; used when the variable is unset or empty (as in sh). */
  fallback: string | undefined;
}

export interface ProtectedText {
  /** The manifest text with every reference replaced by a placeholder. */
  text: string;
  references: EnvReference[];
  placeholder: RegExp;
  /** Maps an offset in `text` back to the offset in the original text (for YAML error positions). */
  originalOffset(offset: number): number;
}

export interface EnvProblem {
  path: PropertyKey[];
  message: string;
}

/** Replaces each `${...}` with `WEFTENV<nonce>X<index>X`; the nonce keeps placeholders from matching user text. */
export function protectEnvReferences(original: string): ProtectedText {
  const nonce = randomBytes(4).toString('hex');
  const references: EnvReference[] = [];
  // [offset in protected text where the placeholder ends, cumulative length change so far]
  const shifts: Array<[number, number]> = [];
  let delta = 0;
  const text = original.replace(ENV_REFERENCE, (source: string, name: string, fallback: string | undefined, offset: number) => {
    const placeholder = `WEFTENV${nonce}X${references.length}X`;
    references.push({ source, name, fallback });
    delta += placeholder.length - source.length;
    shifts.push([offset + delta + source.length, delta]);
    return placeholder;
  });
  return {
    text,
    references,
    placeholder: new RegExp(`WEFTENV${nonce}X(\\d+)X`, 'g'),
    originalOffset(offset) {
      let shift = 0;
      for (const [end, cumulative] of shifts) {
        if (end > offset) break;
        shift = cumulative;
      }
      return offset - shift;
    },
  };
}

/**
 * Substitutes the variables into every string of a parsed manifest. Keys keep the reference
 * as written (a variable in a key is not expanded). An unset variable without a default is a
 * problem naming the field; its text becomes "" so the rest of the manifest can still be checked.
 */
export function expandEnvReferences(
  value: unknown,
  protectedText: ProtectedText,
  env: NodeJS.ProcessEnv,
): { value: unknown; problems: EnvProblem[] } {
  const problems: EnvProblem[] = [];
  const { references, placeholder } = protectedText;

  const restoreSource = (text: string): string =>
    text.replace(placeholder, (_match, index: string) => references[Number(index)]!.source);

  const expand = (text: string, path: PropertyKey[]): string =>
    text.replace(placeholder, (_match, index: string) => {
      const reference = references[Number(index)]!;
      const current = env[reference.name];
      if (reference.fallback !== undefined) return current ? current : reference.fallback;
      if (current !== undefined) return current;
      problems.push({
        path,
        message: `environment variable ${reference.name} is not set (write \${${reference.name}:-default} to give a default)`,
      });
      return '';
    });

  const walk = (node: unknown, path: PropertyKey[]): unknown => {
    if (typeof node === 'string') return expand(node, path);
    if (Array.isArray(node)) return node.map((item, index) => walk(item, [...path, index]));
    if (node !== null && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(node)) {
        const restoredKey = restoreSource(key);
        // defineProperty: a key spelled `__proto__` stays a key (and an unknown-key error).
        Object.defineProperty(out, restoredKey, {
          value: walk(child, [...path, restoredKey]), enumerable: true, writable: true, configurable: true,
        });
      }
      return out;
    }
    return node;
  };

  return { value: references.length === 0 ? value : walk(value, []), problems };
}
