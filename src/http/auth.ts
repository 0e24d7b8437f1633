import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { AppError } from '../errors.js';
import { requestHeader } from './headers.js';

/** What a key may do. Writes: events, replays, promotions, retrains. */
export const SCOPES = ['read', 'write'] as const;
export type Scope = (typeof SCOPES)[number];

interface StoredKey {
  digest: Buffer;
  scopes: ReadonlySet<Scope>;
  /** A short, non-secret label for logs and rate limits. */
  label: string;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Parses `key` or `key:scope+scope` entries. A key without scopes may read and write.
 * Only digests are kept, and they are compared in constant time.
 */
export function parseApiKeys(entries: readonly string[]): StoredKey[] {
  return entries.map((entry, i) => {
    const [secret, scopeList] = entry.split(':');
    const scopes = scopeList ? (scopeList.split('+').filter((s): s is Scope => (SCOPES as readonly string[]).includes(s))) : [...SCOPES];
    return { digest: digest(secret), scopes: new Set(scopes), label: `key-${i + 1}` };
  });
}

function findKey(keys: readonly StoredKey[], presented: string): StoredKey | undefined {
  const candidate = digest(presented);
  let found: StoredKey | undefined;
  // Compare against every key so timing does not reveal which one matched.
  for (const key of keys) if (timingSafeEqual(key.digest, candidate)) found = key;
  return found;
}

/** The label of the valid key in an Authorization header, or undefined (no header, not bearer, unknown key). */
export function keyLabelOf(options: Pick<AuthOptions, 'keys'>, header: string | undefined): string | undefined {
  if (options.keys.length === 0 || !header) return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  return match ? findKey(options.keys, match[1])?.label : undefined;
}

export interface AuthOptions {
  keys: readonly StoredKey[];
  requireKeyForReads: boolean;
  /** Requests per minute per key, or per address without a key; 0 or absent: no limit. */
  rateLimitPerMinute?: number;
}

/**
 * Requires a bearer key with `scope` when keys are configured. With no keys the
 * service only listens on loopback (enforced by the configuration), so all pass.
 */
export function requireScope(scope: Scope, options: AuthOptions): MiddlewareHandler {
  return async (c, next) => {
    if (options.keys.length === 0 || (scope === 'read' && !options.requireKeyForReads)) return next();
    const header = requestHeader(c, 'authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const key = match ? findKey(options.keys, match[1]) : undefined;
    if (!key) {
      // RFC 6750: a 401 names the scheme the client should use.
      c.header('WWW-Authenticate', 'Bearer realm="faresight"');
      throw new AppError(
        'unauthorized',
        match ? 'the API key is not valid' : 'an API key is required: send Authorization: Bearer <key>',
      );
    }
    if (!key.scopes.has(scope)) throw new AppError('forbidden', `the API key lacks the ${scope} scope`);
    c.set('apiKeyLabel', key.label);
    return next();
  };
}
