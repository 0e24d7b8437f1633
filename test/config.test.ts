import { describe, expect, it } from 'vitest';
import { ConfigError, isLoopback, loadConfig } from '../src/config.js';

/** The ConfigError thrown for `env`, failing the test if none is. */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('has safe defaults for an empty environment', () => {
    expect(loadConfig({})).toMatchObject({
      FARESIGHT_HOST: '127.0.0.1',
      FARESIGHT_PORT: 8787,
      FARESIGHT_DB_PATH: 'data/faresight.db',
      FARESIGHT_DB_SYNCHRONOUS: 'NORMAL',
      FARESIGHT_MODELS_DIR: 'models',
      FARESIGHT_API_KEYS: [],
      FARESIGHT_REQUIRE_KEY_FOR_READS: false,
      FARESIGHT_ALLOW_PUBLIC_WITHOUT_KEYS: false,
      FARESIGHT_LOG_LEVEL: 'info',
      FARESIGHT_RETRAIN_CRON: '',
      FARESIGHT_RETRAIN_AFTER_EVENTS: 50_000,
      FARESIGHT_FORECAST_CACHE_MB: 96,
    });
  });

  it('reads and converts values', () => {
    const config = loadConfig({
      FARESIGHT_PORT: '9000',
      FARESIGHT_DB_PATH: '/var/lib/faresight/db.sqlite',
      FARESIGHT_DB_SYNCHRONOUS: 'FULL',
      FARESIGHT_LOG_LEVEL: 'debug',
      FARESIGHT_REQUIRE_KEY_FOR_READS: 'yes',
      FARESIGHT_API_KEYS: ' aaaaaaaaaaaaaaaa , bbbbbbbbbbbbbbbb:read ',
    });
    expect(config).toMatchObject({
      FARESIGHT_PORT: 9000,
      FARESIGHT_DB_PATH: '/var/lib/faresight/db.sqlite',
      FARESIGHT_DB_SYNCHRONOUS: 'FULL',
      FARESIGHT_LOG_LEVEL: 'debug',
      FARESIGHT_REQUIRE_KEY_FOR_READS: true,
      FARESIGHT_API_KEYS: ['aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb:read'],
    });
  });

  it.each([
    ['true', true],
    ['1', true],
    ['yes', true],
    ['false', false],
    ['0', false],
    ['no', false],
  ])('reads the boolean %j as %s', (value, expected) => {
    expect(loadConfig({ FARESIGHT_REQUIRE_KEY_FOR_READS: value }).FARESIGHT_REQUIRE_KEY_FOR_READS).toBe(expected);
  });

  it.each(['abc', '70000', '-1', '80.5', '8787x'])('rejects FARESIGHT_PORT=%j, naming the variable', (port) => {
    const error = configError({ FARESIGHT_PORT: port });
    expect(error.name).toBe('ConfigError');
    expect(error.message).toMatch(/FARESIGHT_PORT: must be/);
  });

  it.each(['lots', '-1', '64MB'])('rejects FARESIGHT_FORECAST_CACHE_MB=%j, naming the variable', (mb) => {
    expect(configError({ FARESIGHT_FORECAST_CACHE_MB: mb }).message).toMatch(/FARESIGHT_FORECAST_CACHE_MB: must be/);
  });

  it('reads FARESIGHT_FORECAST_CACHE_MB, 0 included', () => {
    expect(loadConfig({ FARESIGHT_FORECAST_CACHE_MB: '0' }).FARESIGHT_FORECAST_CACHE_MB).toBe(0);
    expect(loadConfig({ FARESIGHT_FORECAST_CACHE_MB: '128' }).FARESIGHT_FORECAST_CACHE_MB).toBe(128);
  });

  it.each(['verbose', 'INFO', ''])('rejects FARESIGHT_LOG_LEVEL=%j, naming the variable and the levels', (level) => {
    const error = configError({ FARESIGHT_LOG_LEVEL: level });
    expect(error.message).toContain('FARESIGHT_LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent');
  });

  it('names every bad variable at once', () => {
    const error = configError({ FARESIGHT_PORT: 'x', FARESIGHT_LOG_LEVEL: 'loud', FARESIGHT_DB_SYNCHRONOUS: 'OFF', FARESIGHT_ALLOW_PUBLIC_WITHOUT_KEYS: 'maybe' });
    for (const name of ['FARESIGHT_PORT', 'FARESIGHT_LOG_LEVEL', 'FARESIGHT_DB_SYNCHRONOUS', 'FARESIGHT_ALLOW_PUBLIC_WITHOUT_KEYS']) {
      expect(error.message).toContain(`${name}:`);
    }
  });

  it('rejects short API keys without echoing them', () => {
    const error = configError({ FARESIGHT_API_KEYS: 'short-secret' });
    expect(error.message).toContain('FARESIGHT_API_KEYS');
    expect(error.message).not.toContain('short-secret');
  });

  it('ignores unrelated variables', () => {
    expect(loadConfig({ PATH: '/usr/bin', HOME: '/root' }).FARESIGHT_PORT).toBe(8787);
  });

  describe('listening beyond loopback', () => {
    it.each(['0.0.0.0', '192.168.1.10', '::', 'faresight.example.org'])('refuses host %s without keys', (host) => {
      const error = configError({ FARESIGHT_HOST: host });
      expect(error.message).toContain('FARESIGHT_HOST');
      expect(error.message).toContain('FARESIGHT_ALLOW_PUBLIC_WITHOUT_KEYS');
    });

    it('allows it with keys', () => {
      expect(loadConfig({ FARESIGHT_HOST: '0.0.0.0', FARESIGHT_API_KEYS: 'k'.repeat(16) }).FARESIGHT_HOST).toBe('0.0.0.0');
    });

    it('allows it without keys when FARESIGHT_ALLOW_PUBLIC_WITHOUT_KEYS=true', () => {
      const config = loadConfig({ FARESIGHT_HOST: '0.0.0.0', FARESIGHT_ALLOW_PUBLIC_WITHOUT_KEYS: 'true' });
      expect(config.FARESIGHT_ALLOW_PUBLIC_WITHOUT_KEYS).toBe(true);
    });

    it('still refuses it when FARESIGHT_ALLOW_PUBLIC_WITHOUT_KEYS=false', () => {
      expect(configError({ FARESIGHT_HOST: '0.0.0.0', FARESIGHT_ALLOW_PUBLIC_WITHOUT_KEYS: 'false' }).message).toContain('FARESIGHT_HOST');
    });

    it.each(['127.0.0.1', '127.0.0.2', 'localhost', '::1'])('needs no keys on the loopback host %s', (host) => {
      expect(loadConfig({ FARESIGHT_HOST: host }).FARESIGHT_HOST).toBe(host);
      expect(isLoopback(host)).toBe(true);
    });
  });

  // Number('') is 0, so an empty FARESIGHT_PORT (as `FARESIGHT_PORT=` in an env file leaves it)
  // makes the service listen on a random free port. Expected to pass once an empty value is
  // treated as unset (8787) or refused.
  it('does not turn an empty FARESIGHT_PORT into port 0', () => {
    let port: number | undefined;
    try {
      port = loadConfig({ FARESIGHT_PORT: '' }).FARESIGHT_PORT;
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return;
    }
    expect(port).toBe(8787);
  });
});
