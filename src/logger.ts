import pino from 'pino';

/** The structured logger every part of the service writes to. */
export type Logger = pino.Logger;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Creates a JSON-lines logger on stderr, so stdout stays free for CLI output. */
export function createLogger(level: LogLevel = 'info'): Logger {
  return pino({ level, base: undefined, redact: ['req.headers.authorization', '*.headers.authorization', 'headers.authorization', 'apiKey', 'apiKeys', 'FARESIGHT_API_KEYS', '*.FARESIGHT_API_KEYS'] }, pino.destination(2));
}
