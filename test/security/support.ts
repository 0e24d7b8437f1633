import { expect } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';
import type { Service } from '../../src/service.js';
import { makeService, type MakeServiceOptions } from '../helpers/service.js';

/** A key with every scope (no scope list). */
export const ADMIN_KEY = 'admin-key-7f3a9c1e5b2d8f40';
/** A key that may only read. */
export const READ_KEY = 'read-key-2b8e6d4f0a1c9e73';
/** A key that may only write. */
export const WRITE_KEY = 'write-key-5c0f2a8e4d6b1937';
/** A well-formed key nobody configured. */
export const UNKNOWN_KEY = 'unknown-key-9d1b3f5a7c2e4068';

export const KEYS_ENV = `${ADMIN_KEY},${READ_KEY}:read,${WRITE_KEY}:write`;

/** A service with the three keys configured, plus any other configuration. */
export function keyedService(config: MakeServiceOptions['config'] = {}, options: Omit<MakeServiceOptions, 'config'> = {}): Service {
  return makeService({ ...options, config: { FARESIGHT_API_KEYS: KEYS_ENV, ...config } });
}

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** Asserts the error envelope with this status and code; returns the body. */
export async function expectEnvelope(res: Response, status: number, code: (typeof ERROR_CODES)[number]) {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = JSON.parse(text) as { error: { code: string; message: string; requestId?: string } };
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.requestId).toEqual(expect.any(String));
  expectNoLeak(text);
  return body;
}

/** Text that must never appear in a response: stack frames, source paths, keys. */
export function expectNoLeak(text: string): void {
  expect(text).not.toMatch(/\n\s+at |node_modules|\/src\/|\.ts:\d+/);
  for (const key of [ADMIN_KEY, READ_KEY, WRITE_KEY, UNKNOWN_KEY]) expect(text).not.toContain(key);
}

/** Rows in the event log. */
export function logRows(service: Service): number {
  return (service.database.sqlite.prepare('SELECT count(*) AS n FROM event_log').get() as { n: number }).n;
}
