// The shape of a `weft filter` / `weft chain` subcommand (control-commands.ts runs them).

import type { AdminTarget } from './admin-client.js';

/** A mistake in how the command was called: printed with the usage, exit code 2. */
export class ControlUsageError extends Error {}

/** One subcommand: the options it takes and what it does with them. */
export interface ControlCommand {
  /** Names of the positionals after the subcommand (`FILE`), for usage errors. */
  readonly args: readonly string[];
  /** How many positionals are optional (from the end of `args`). */
  readonly optionalArgs?: number;
  readonly options: Record<string, { type: 'string' | 'boolean' }>;
  run(context: CommandContext): Promise<void>;
}

export interface CommandContext {
  readonly target: AdminTarget;
  readonly args: readonly string[];
  readonly options: Readonly<Record<string, string | boolean | undefined>>;
  out(text: string): void;
}

/** A required string option, or a usage error naming it. */
export function requiredOption(context: CommandContext, option: string, what: string): string {
  const value = context.options[option];
  if (typeof value !== 'string' || value === '') throw new ControlUsageError(`${what} needs --${option}`);
  return value;
}
