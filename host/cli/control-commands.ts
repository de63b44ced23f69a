// `weft filter ...` and `weft chain ...`: the registry and the chain of a running proxy,
// through its admin API (admin-target.ts: --admin URL --token T, the environment, or the manifest).
//
// Exit codes as for the rest of the CLI: 0 done, 1 the call failed (the reason on stderr),
// 2 a usage error.

import { parseArgs } from 'node:util';
import { resolveAdminTarget, TARGET_USAGE, type TargetOptions } from './admin-target.js';
import { chainCommands } from './chain-commands.js';
import { ControlUsageError, type ControlCommand } from './command.js';
import { filterCommands } from './filter-commands.js';
import { projectCommands } from './project-commands.js';

export const CONTROL_USAGE = `A filter project (files only):
  filter init NAME [--dir DIR]                           a new project in DIR (default ./NAME)
  filter build [DIR]                                     compile it and check the module (default .)
  dev [-c FILE]                                          build, serve with weft.yaml, rebuild and hot-swap on save

Registry and chain of a running proxy (through its admin API):
  filter push FILE --name N [--sign KEY] [--root-id R]   upload a module (KEY: PEM private key)
  filter ls [NAME]                                       list filters and their versions
  filter sign FILE --key KEY --name N [--out SIG]        make a detached Ed25519 signature for filter N
  filter keygen --out KEY                                make a signing key; prints the public key
  filter rm NAME VERSION                                 delete a version no chain uses
  chain get [--json]                                     the chain spec serving now
  chain apply FILE [--if-match REV]                      replace the chain spec (YAML or JSON)
  chain rollback [--to REV] [--if-match REV]             back to the previous (or a given) revision
  chain history                                          who changed what, newest first

${TARGET_USAGE}`;

const COMMON_OPTIONS = {
  admin: { type: 'string' },
  token: { type: 'string' },
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
} as const;

const GROUPS: Record<string, Record<string, ControlCommand>> = { filter: { ...projectCommands, ...filterCommands }, chain: chainCommands };

export function isControlCommand(word: string | undefined): boolean {
  return word !== undefined && Object.hasOwn(GROUPS, word);
}

/** Runs `argv` (starting with `filter` or `chain`); the exit code. */
export async function runControlCommand(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [group, name, ...rest] = argv;
  try {
    const commands = GROUPS[group!]!;
    if (name === '--help' || name === '-h') {
      process.stdout.write(CONTROL_USAGE);
      return 0;
    }
    const known = Object.keys(commands).map((c) => `${group} ${c}`).join(', ');
    if (name === undefined) throw new ControlUsageError(`${group} needs a command (${known})`);
    if (!Object.hasOwn(commands, name)) throw new ControlUsageError(`unknown command "${group} ${name}" (${known})`);
    const command = commands[name]!;
    let parsed;
    try {
      parsed = parseArgs({ args: [...rest], allowPositionals: true, options: { ...COMMON_OPTIONS, ...command.options } });
    } catch (error) {
      throw new ControlUsageError((error as Error).message.replace(/\. .*$/s, ''));
    }
    if (parsed.values.help) {
      process.stdout.write(CONTROL_USAGE);
      return 0;
    }
    const required = command.args.length - (command.optionalArgs ?? 0);
    if (parsed.positionals.length < required) throw new ControlUsageError(`${group} ${name} needs ${command.args.slice(parsed.positionals.length, required).join(' ')}`);
    if (parsed.positionals.length > command.args.length) throw new ControlUsageError(`unexpected argument "${parsed.positionals[command.args.length]}"`);
    const values = parsed.values as TargetOptions;
    const target = await resolveAdminTarget({ admin: values.admin, token: values.token, config: values.config }, env);
    await command.run({ target, args: parsed.positionals, options: parsed.values, out: (text) => process.stdout.write(text) });
    return 0;
  } catch (error) {
    if (error instanceof ControlUsageError) {
      process.stderr.write(`weft: ${error.message}\n\n${CONTROL_USAGE}`);
      return 2;
    }
    process.stderr.write(`weft: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
