// Reading a manifest: file -> YAML (JSON is YAML too) -> `${ENV}` expansion -> schema.
// Every step reports problems as lines (`<field>: <what is wrong>`), never throws.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { expandEnvReferences, protectEnvReferences, type ProtectedText } from './env.js';
import { formatIssues, formatPath, manifestErrorMap } from './errors.js';
import { manifestSchema, type Manifest } from './schema.js';

export type LoadResult = { ok: true; manifest: Manifest } | { ok: false; errors: string[] };

export async function loadManifest(file: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, not a file' : (error as Error).message;
    return { ok: false, errors: [`${file}: ${reason}`] };
  }
  return parseManifest(text, { baseDir: path.dirname(path.resolve(file)), env });
}

/** The same checks on manifest text; relative paths resolve against `baseDir`. */
export function parseManifest(text: string, options: { baseDir: string; env: NodeJS.ProcessEnv }): LoadResult {
  const protectedText = protectEnvReferences(text);
  const document = parseDocument(protectedText.text, { prettyErrors: false });
  if (document.errors.length > 0) {
    return { ok: false, errors: document.errors.map((error) => syntaxError(error.message, error.pos[0], text, protectedText)) };
  }

  const expanded = expandEnvReferences(document.toJS(), protectedText, options.env);
  const parsed = manifestSchema({ baseDir: options.baseDir }).safeParse(expanded.value, { error: manifestErrorMap });

  const errors = expanded.problems.map((problem) => `${formatPath(problem.path)}: ${problem.message}`);
  if (!parsed.success) {
    // A field whose variable is unset was reported above; what the schema says about its "" is noise.
    const unsetFields = expanded.problems.map((problem) => formatPath(problem.path));
    const isUnsetField = (line: string) => unsetFields.some((field) => line.startsWith(`${field}: `));
    errors.push(...formatIssues(parsed.error.issues).filter((line) => !isUnsetField(line)));
  }
  if (errors.length > 0 || !parsed.success) return { ok: false, errors };
  return { ok: true, manifest: parsed.data };
}

/** `syntax error at 3:7: <reason>`, with the position in the text the user wrote. */
function syntaxError(message: string, offset: number, original: string, protectedText: ProtectedText): string {
  const originalOffset = protectedText.originalOffset(offset);
  const before = original.slice(0, originalOffset);
  const line = before.split('\n').length;
  const column = originalOffset - before.lastIndexOf('\n');
  // yaml's message ends with its own " at line L, column C" (for the substituted text); drop it.
  const reason = message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  return `syntax error at ${line}:${column}: ${reason}`;
}
