import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_PUBLIC_RATE_LIMIT, isLoopback, loadConfig } from '../../src/config.js';
import { parseApiKeys } from '../../src/http/auth.js';
import { ADMIN_KEY, READ_KEY } from './support.js';

const load = (env: Record<string, string>) => loadConfig({ FARESIGHT_LOG_LEVEL: 'silent', ...env });

describe('listening address and keys', () => {
  it('listens on loopback by default, and without keys', () => {
    const config = load({});
    expect(config.FARESIGHT_HOST).toBe('127.0.0.1');
    expect(isLoopback(config.FARESIGHT_HOST)).toBe(true);
    expect(config.FARESIGHT_API_KEYS).toEqual([]);
  });

  it.each(['0.0.0.0', '::', '192.168.1.10', 'example.org', '::ffff:127.0.0.1'])(
    'refuses %s without keys, naming the variable and the way out',
    (host) => {
      expect(() => load({ FARESIGHT_HOST: host })).toThrow(ConfigError);
      expect(() => load({ FARESIGHT_HOST: host })).toThrow(/FARESIGHT_HOST.*FARESIGHT_API_KEYS/s);
    },
  );

  it.each(['127.0.0.1', '127.1.2.3', 'localhost', '::1'])('serves %s without keys', (host) => {
    expect(load({ FARESIGHT_HOST: host }).FARESIGHT_HOST).toBe(host);
  });

  it('serves a public address with keys, or with the explicit opt-out', () => {
    expect(load({ FARESIGHT_HOST: '0.0.0.0', FARESIGHT_API_KEYS: ADMIN_KEY }).FARESIGHT_API_KEYS).toEqual([ADMIN_KEY]);
    expect(load({ FARESIGHT_HOST: '0.0.0.0', FARESIGHT_ALLOW_PUBLIC_WITHOUT_KEYS: 'true' }).FARESIGHT_HOST).toBe('0.0.0.0');
  });

  it('rejects short keys and unknown scopes without echoing the key', () => {
    for (const keys of ['short-key', `${ADMIN_KEY}:admin`, `${ADMIN_KEY}:read+delete`, `${ADMIN_KEY}:`]) {
      let message = '';
      try {
        load({ FARESIGHT_API_KEYS: keys });
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        message = (error as Error).message;
      }
      expect(message).toMatch(/FARESIGHT_API_KEYS/);
      expect(message).not.toContain(keys.split(':')[0]);
    }
  });

  it('parses scopes: no list means read and write', () => {
    const [all, reader] = parseApiKeys([ADMIN_KEY, `${READ_KEY}:read`]);
    expect([...all.scopes].sort()).toEqual(['read', 'write']);
    expect([...reader.scopes]).toEqual(['read']);
    // Only digests are kept, never the key itself.
    expect(JSON.stringify({ ...all, digest: all.digest.toString('hex') })).not.toContain(ADMIN_KEY);
  });
});

describe('rate limit', () => {
  it('is off on loopback unless set, so local tools are never throttled', () => {
    expect(load({}).FARESIGHT_RATE_LIMIT_PER_MINUTE).toBe(0);
  });

  it(`defaults to ${DEFAULT_PUBLIC_RATE_LIMIT} per minute on a public address`, () => {
    expect(load({ FARESIGHT_HOST: '0.0.0.0', FARESIGHT_API_KEYS: ADMIN_KEY }).FARESIGHT_RATE_LIMIT_PER_MINUTE).toBe(DEFAULT_PUBLIC_RATE_LIMIT);
  });

  it('takes an explicit value, 0 included, wherever the service listens', () => {
    expect(load({ FARESIGHT_RATE_LIMIT_PER_MINUTE: '120' }).FARESIGHT_RATE_LIMIT_PER_MINUTE).toBe(120);
    expect(load({ FARESIGHT_HOST: '0.0.0.0', FARESIGHT_API_KEYS: ADMIN_KEY, FARESIGHT_RATE_LIMIT_PER_MINUTE: '0' }).FARESIGHT_RATE_LIMIT_PER_MINUTE).toBe(0);
  });

  it.each(['-1', 'fast', '1.5'])('rejects %s', (value) => {
    expect(() => load({ FARESIGHT_RATE_LIMIT_PER_MINUTE: value })).toThrow(/FARESIGHT_RATE_LIMIT_PER_MINUTE/);
  });
});
