// `weft chain get | apply | rollback | history`.

import { readFile } from 'node:fs/promises';
import { parse, stringify } from 'yaml';
import type { HistoryEntry } from '../registry/chain-records.js';
import { callAdmin } from './admin-client.js';
import { type CommandContext, type ControlCommand } from './command.js';
import { table } from './output.js';

interface Applied {
  revision: number;
  changes: string[];
}

function ifMatchHeader(context: CommandContext): Record<string, string> {
  const revision = context.options['if-match'];
  return typeof revision === 'string' ? { 'if-match': revision } : {};
}

function changeLines(changes: readonly string[]): string {
  return changes.map((change) => `  ${change}\n`).join('');
}

export const chainCommands: Record<string, ControlCommand> = {
  get: {
    args: [],
    options: { json: { type: 'boolean' } },
    async run(context: CommandContext) {
      const { body } = await callAdmin<{ revision: number } & Record<string, unknown>>(context.target, { method: 'GET', path: '/chain' });
      if (context.options.json) {
        context.out(`${JSON.stringify(body, null, 2)}\n`);
        return;
      }
      // YAML that `weft chain apply` takes back: the revision is a comment, not part of the spec.
      const { revision, ...spec } = body;
      context.out(`# chain revision ${revision} (weft chain apply FILE --if-match ${revision} to change it)\n${stringify(spec)}`);
    },
  },

  apply: {
    args: ['FILE'],
    options: { 'if-match': { type: 'string' } },
    async run(context: CommandContext) {
      const file = context.args[0]!;
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        throw new Error(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
      }
      let spec: unknown;
      try {
        spec = parse(text);
      } catch (error) {
        throw new Error(`${file} is not YAML or JSON (${(error as Error).message.split('\n')[0]})`);
      }
      const { body } = await callAdmin<Applied>(context.target, {
        method: 'PUT',
        path: '/chain',
        body: JSON.stringify(spec ?? {}),
        headers: { 'content-type': 'application/json', ...ifMatchHeader(context) },
      });
      context.out(`chain revision ${body.revision} is serving\n${changeLines(body.changes)}`);
    },
  },

  rollback: {
    args: [],
    options: { to: { type: 'string' }, 'if-match': { type: 'string' } },
    async run(context: CommandContext) {
      const to = context.options.to;
      const { body } = await callAdmin<Applied & { restored: number }>(context.target, {
        method: 'POST',
        path: '/chain/rollback',
        body: typeof to === 'string' ? JSON.stringify({ revision: Number(to) }) : '',
        headers: { 'content-type': 'application/json', ...ifMatchHeader(context) },
      });
      context.out(`chain revision ${body.revision} is serving (the spec of revision ${body.restored})\n${changeLines(body.changes)}`);
    },
  },

  history: {
    args: [],
    options: {},
    async run(context: CommandContext) {
      const { body } = await callAdmin<{ history: Array<Omit<HistoryEntry, 'spec'>> }>(context.target, { method: 'GET', path: '/chain/history' });
      const rows = body.history.map((entry) => [
        String(entry.revision),
        entry.at.replace(/\.\d+Z$/, 'Z'),
        entry.by,
        entry.restored === undefined ? entry.action : `${entry.action} to ${entry.restored}`,
        entry.changes.join('; '),
      ]);
      context.out(table(['REVISION', 'AT', 'BY', 'ACTION', 'CHANGES'], rows));
    },
  },
};
