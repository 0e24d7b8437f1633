import { z } from 'zod';
import { SYNCHRONOUS_MODES } from './db/client.js';
import { DEFAULT_RENDER_CACHE_BYTES } from './forecast/render-cache.js';
import { LOG_LEVELS } from './logger.js';

const boolean = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** The service's configuration, one environment variable per field. */
export const ConfigSchema = z.object({
  FARESIGHT_HOST: z.string().min(1).default('127.0.0.1'),
  FARESIGHT_PORT: z
    .string()
    .regex(/^\d+$/, { error: 'must be a whole number' })
    .pipe(
      z.coerce
        .number<string>()
        .int()
        .min(0, { error: 'must be between 0 and 65535' })
        .max(65535, { error: 'must be between 0 and 65535' }),
    )
    .default(8787),
  FARESIGHT_DB_PATH: z.string().min(1).default('data/faresight.db'),
  FARESIGHT_DB_SYNCHRONOUS: z.enum(SYNCHRONOUS_MODES, { error: 'must be NORMAL or FULL' }).default('NORMAL'),
  FARESIGHT_MODELS_DIR: z.string().min(1).default('models'),
  /** Comma-separated keys; each may carry scopes as key:scope+scope (scopes: write, read). */
  FARESIGHT_API_KEYS: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((k) => k.trim()).filter(Boolean))
    .refine((keys) => keys.every((k) => k.split(':')[0].length >= 16), {
      error: 'each key must be at least 16 characters',
    })
    // A misspelt scope would otherwise leave a key that can do nothing, silently.
    .refine((keys) => keys.every((k) => validScopes(k.split(':')[1])), {
      error: 'a key may carry only the scopes read and write, as key:read or key:read+write',
    }),
  FARESIGHT_REQUIRE_KEY_FOR_READS: boolean.default(false),
  FARESIGHT_ALLOW_PUBLIC_WITHOUT_KEYS: boolean.default(false),
  /**
   * Requests per minute per API key, or per client address without a key; 0 turns the limit off.
   * Unset: off on a loopback host, 6000 on any other (see {@link DEFAULT_PUBLIC_RATE_LIMIT}).
   */
  FARESIGHT_RATE_LIMIT_PER_MINUTE: z.coerce
    .number({ error: 'must be a number' })
    .int({ error: 'must be a whole number' })
    .min(0, { error: 'must be 0 (off) or more' })
    .optional(),
  FARESIGHT_LOG_LEVEL: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  /** Cron expression for scheduled retrains inside the service; empty disables it. */
  FARESIGHT_RETRAIN_CRON: z.string().default(''),
  /** Retrain after this many new fare events; 0 disables the trigger. */
  FARESIGHT_RETRAIN_AFTER_EVENTS: z.coerce.number().int().min(0).default(50_000),
  /** Memory for rendered forecast answers, in MB; 0 renders every read. */
  FARESIGHT_FORECAST_CACHE_MB: z.coerce
    .number({ error: 'must be a number' })
    .min(0, { error: 'must be 0 (off) or more' })
    .default(DEFAULT_RENDER_CACHE_BYTES / 1024 / 1024),
});

export type Config = z.infer<typeof ConfigSchema>;

/** The rate limit when FARESIGHT_RATE_LIMIT_PER_MINUTE is unset and the host is reachable from other machines. */
export const DEFAULT_PUBLIC_RATE_LIMIT = 6000;

function validScopes(list: string | undefined): boolean {
  return list === undefined || list.split('+').every((scope) => scope === 'read' || scope === 'write');
}

/** Thrown for bad configuration; the message names each variable and its problem. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment; throws a {@link ConfigError} naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const result = ConfigSchema.safeParse(env);
  if (result.success) {
    const config = result.data;
    if (!isLoopback(config.FARESIGHT_HOST) && config.FARESIGHT_API_KEYS.length === 0 && !config.FARESIGHT_ALLOW_PUBLIC_WITHOUT_KEYS) {
      throw new ConfigError(
        `invalid configuration:\n  FARESIGHT_HOST: ${config.FARESIGHT_HOST} is not a loopback address; set FARESIGHT_API_KEYS, or FARESIGHT_ALLOW_PUBLIC_WITHOUT_KEYS=true to serve it without keys`,
      );
    }
    // Loopback clients are this machine's own tools (importers, benchmarks): no limit unless asked.
    config.FARESIGHT_RATE_LIMIT_PER_MINUTE ??= isLoopback(config.FARESIGHT_HOST) ? 0 : DEFAULT_PUBLIC_RATE_LIMIT;
    return config;
  }
  const lines = result.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
  throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
