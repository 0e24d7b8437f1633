/**
 * Lists and replays dead letters on the configured database: the CLI twin of
 * GET /v1/dead-letters and POST /v1/dead-letters/{id}/replay. See `npm run dead-letters -- --help`.
 */
import { parseArgs } from 'node:util';
import { describeDeadLetter } from '../src/runtime/dead-letters.js';
import type { RuntimeStorage } from '../src/runtime/types.js';
import { count, openConfiguredStorage, runMain, UsageError } from './lib/cli.js';

const HELP = `Usage:
  npm run dead-letters -- list [--function ID] [--after ID] [--limit N] [--json]
  npm run dead-letters -- replay ID [ID ...]

Works on the configured database (FARESIGHT_DB_PATH, default data/faresight.db).
list     dead letters in id order: events a function failed on until its retries were spent
replay   puts dead letters back in line, due now, with fresh retries; a running service
         picks them up within a second (or run \`npm start\` to process them)`;

const MAX_LIMIT = 1000;
const ERROR_WIDTH = 100;

function positiveInt(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} must be a whole number`);
  return n;
}

function list(storage: RuntimeStorage, args: { function?: string; after?: string; limit?: string; json: boolean }): void {
  const limit = positiveInt(args.limit, '--limit', 100);
  if (limit < 1 || limit > MAX_LIMIT) throw new UsageError(`--limit must be between 1 and ${MAX_LIMIT}`);
  const afterId = positiveInt(args.after, '--after', 0);
  const dead = storage.deliveries.listDead({ functionId: args.function, afterId, limit }).map((d) => describeDeadLetter(storage, d));
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ deadLetters: dead }, null, 2)}\n`);
    return;
  }
  if (dead.length === 0) {
    process.stdout.write(`no dead letters${args.function ? ` for ${args.function}` : ''}\n`);
    return;
  }
  const rows = dead.map((d) => [
    String(d.id),
    d.functionId,
    String(d.seq),
    d.series,
    String(d.attempts),
    d.failedAt,
    (d.error ?? '').replace(/\s+/g, ' ').slice(0, ERROR_WIDTH),
  ]);
  const header = ['ID', 'FUNCTION', 'SEQ', 'SERIES', 'ATTEMPTS', 'FAILED AT', 'ERROR'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const format = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  process.stdout.write(`${[format(header), ...rows.map(format)].join('\n')}\n`);
  if (dead.length === limit) {
    process.stdout.write(`… more may follow: --after ${dead[dead.length - 1].id}\n`);
  }
}

function replay(storage: RuntimeStorage, ids: string[]): void {
  if (ids.length === 0) throw new UsageError('give the id of at least one dead letter; see `list`');
  const parsed = ids.map((raw) => {
    const id = Number(raw);
    if (!Number.isInteger(id) || id < 1) throw new UsageError(`${raw} is not a dead-letter id`);
    return id;
  });
  const now = Date.now();
  const missing: number[] = [];
  const revived = storage.transaction(() =>
    parsed.filter((id) => {
      const ok = storage.deliveries.revive(id, now);
      if (!ok) missing.push(id);
      return ok;
    }),
  );
  if (revived.length > 0) {
    process.stdout.write(`replayed ${count(revived.length)}: ${revived.join(', ')} (a running service picks them up within a second)\n`);
  }
  if (missing.length > 0) throw new UsageError(`no dead letter with id ${missing.join(', ')}`);
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      function: { type: 'string' },
      after: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(`${HELP}\n`);
    if (command === undefined && !values.help) process.exitCode = 1;
    return;
  }
  if (command !== 'list' && command !== 'replay') throw new UsageError(`unknown command "${command}"; use list or replay`);
  if (command === 'list' && rest.length > 0) throw new UsageError(`list takes no arguments (got ${rest.join(' ')})`);
  const { database, storage } = openConfiguredStorage();
  try {
    if (command === 'list') list(storage, values);
    else replay(storage, rest);
  } finally {
    database.close();
  }
}

runMain(main);
