import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { childService, REPO_ROOT, scratchDir, type ChildService } from '../../scripts/lib/child-service.js';
import { ADMIN_KEY, KEYS_ENV, READ_KEY, UNKNOWN_KEY, WRITE_KEY } from './support.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startChild(env: Record<string, string>): Promise<ChildService> {
  const dir = scratchDir('faresight-logs-');
  cleanups.push(() => dir.remove());
  const child = await childService({ dbPath: join(dir.path, 'db.sqlite'), env });
  cleanups.push(() => child.stop());
  await child.start();
  return child;
}

const event = JSON.stringify({
  origin: 'BCN',
  destination: 'BUD',
  departureDate: '2016-04-20',
  observedAt: '2016-04-01T09:00:00Z',
  price: 69.99,
  currency: 'EUR',
});

describe('logs', () => {
  it('never hold an API key, whatever the log level and the outcome of the request', async () => {
    const child = await startChild({ FARESIGHT_API_KEYS: KEYS_ENV, FARESIGHT_LOG_LEVEL: 'trace', FARESIGHT_RATE_LIMIT_PER_MINUTE: '5' });
    const statuses: number[] = [];
    for (const key of [WRITE_KEY, ADMIN_KEY, READ_KEY, UNKNOWN_KEY, ...new Array<string>(6).fill(WRITE_KEY)]) {
      const res = await fetch(`${child.url}/v1/events?wait=true`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: event,
      });
      statuses.push(res.status);
      await res.text();
    }
    // Stored, duplicate, read-only, unknown key, and finally rate limited (5 per minute per key).
    expect(statuses.slice(0, 4)).toEqual([202, 202, 403, 401]);
    expect(statuses).toContain(429);
    await child.stop();
    const log = child.log();
    expect(log).toMatch(/faresight is listening/);
    for (const key of [ADMIN_KEY, READ_KEY, WRITE_KEY, UNKNOWN_KEY]) expect(log).not.toContain(key);
  });

  it('warn at start when no keys are configured', async () => {
    const child = await startChild({ FARESIGHT_LOG_LEVEL: 'info' });
    await child.stop();
    const warning = child
      .log()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { level: number; msg: string })
      .find((line) => /no API keys configured/.test(line.msg));
    expect(warning?.level).toBe(40);
  });

  it('redact the authorization header and key fields of logged objects', () => {
    const script = `
      import { createLogger } from './src/logger.ts';
      const logger = createLogger('info');
      logger.info({ req: { headers: { authorization: 'Bearer ${ADMIN_KEY}' } }, apiKey: '${READ_KEY}', apiKeys: ['${WRITE_KEY}'] }, 'request');
    `;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    expect(run.status).toBe(0);
    // pino writes JSON lines to stderr.
    const stderr = run.stderr;
    expect(stderr).toContain('[Redacted]');
    for (const key of [ADMIN_KEY, READ_KEY, WRITE_KEY]) expect(stderr).not.toContain(key);
  });
});
