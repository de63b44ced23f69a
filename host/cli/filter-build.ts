// `weft filter build`: compiles a filter project (the folder with its asconfig.json) with the
// AssemblyScript compiler's API, then checks the module as `weft validate` would, so mistakes
// that otherwise show only at request time (an import Weft does not implement, the SDK's
// exports not re-exported) fail the build with a sentence saying what to do.
//
// asconfig.json may carry // and /* */ comments (the scaffold's explains each setting): they are
// stripped before the compiler reads it. The compiler is the project's own (node_modules/
// assemblyscript), else the one Weft was installed with.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { checkModuleFile, MISSING_EXPORTS_HINT } from './module-check.js';

export interface BuildResult {
  ok: boolean;
  /** The .wasm written (asconfig's outFile), when the compiler got that far. */
  output?: string;
  /** Compiler diagnostics and findings, one per line, ready to print. */
  messages: string[];
  /** Warnings about the module (imports SDKs probe for); the build still succeeds. */
  warnings: string[];
}

interface AscModule {
  main(argv: string[], options: Record<string, unknown>): Promise<{ error: Error | null }>;
  createMemoryStream(): { toString(): string };
}

/** The project's compiler, else Weft's own. */
async function loadCompiler(project: string): Promise<AscModule> {
  const own = join(project, 'node_modules', 'assemblyscript', 'dist', 'asc.js');
  const specifier = existsSync(own) ? pathToFileURL(own).href : 'assemblyscript/asc';
  try {
    return (await import(specifier)) as AscModule;
  } catch {
    throw new Error('the AssemblyScript compiler is not installed: npm install --save-dev assemblyscript@~0.28.9');
  }
}

export async function buildFilter(projectDir: string): Promise<BuildResult> {
  const project = resolve(projectDir);
  const config = join(project, 'asconfig.json');
  if (!existsSync(config)) return { ok: false, messages: [`no asconfig.json in ${project}: is this a filter project? (weft filter init NAME makes one)`], warnings: [] };
  const asc = await loadCompiler(project);
  const outFile = (JSON.parse(stripJsonComments(await readFile(config, 'utf8'))) as { options?: { outFile?: string } }).options?.outFile;
  const stdout = asc.createMemoryStream();
  const stderr = asc.createMemoryStream();
  const { error } = await asc.main(['--config', config, '--target', 'release', '--baseDir', project, '--noColors'], {
    stdout,
    stderr,
    readFile: async (name: string, baseDir: string) => {
      try {
        const text = await readFile(resolve(baseDir, name), 'utf8');
        return basename(name) === 'asconfig.json' ? stripJsonComments(text) : text;
      } catch {
        return null;
      }
    },
  });
  const diagnostics = stderr.toString().trim();
  const messages = diagnostics === '' ? [] : [diagnostics];
  if (error !== null) {
    // Without the SDK's exports the abort handler asconfig names is never compiled in.
    if (diagnostics.includes("weftAbort' not found")) messages.push(`hint: the module ${MISSING_EXPORTS_HINT.replace('exports no', 'would export no')}`);
    messages.push(`build failed: ${error.message}`);
    return { ok: false, messages, warnings: [] };
  }
  const output = outFile === undefined ? undefined : resolve(project, outFile);
  if (output === undefined) return { ok: true, messages, warnings: [] };
  const findings = await checkModuleFile(output);
  return { ok: findings.errors.length === 0, output, messages: [...messages, ...findings.errors.map((e) => `${basename(output)}: ${e}`)], warnings: findings.warnings.map((w) => `${basename(output)}: ${w}`) };
}

/** JSON with // line and /* block *\/ comments, without them (strings are left alone). */
export function stripJsonComments(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const char = text[i]!;
    if (char === '"') {
      let end = i + 1;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      out += text.slice(i, end + 1);
      i = end + 1;
    } else if (char === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (char === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 2;
    } else {
      out += char;
      i++;
    }
  }
  return out;
}
