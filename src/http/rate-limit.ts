import type { Context, MiddlewareHandler } from 'hono';
import { AppError } from '../errors.js';
import { keyLabelOf, type AuthOptions } from './auth.js';
import { nodeRequest, requestHeader } from './headers.js';

/** How many idle clients are remembered before full buckets are swept away. */
const SWEEP_ABOVE = 10_000;
/** A hard cap on remembered clients, so a flood of addresses cannot grow memory without bound. */
const MAX_CLIENTS = 100_000;

export interface RateLimiterOptions {
  /** Requests each client may make per minute, on average; 0 turns the limit off. */
  perMinute: number;
  /** The most requests a client may make at once after being idle; defaults to `perMinute`. */
  burst?: number;
  /** Wall clock, for tests. */
  now?: () => number;
}

/** The outcome of asking for one request's token. */
export type RateDecision = { allowed: true; remaining: number } | { allowed: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/** A token bucket per client: `burst` tokens, refilled at `perMinute` per minute. */
export interface RateLimiter {
  readonly enabled: boolean;
  take(client: string): RateDecision;
  /** Clients currently remembered. */
  size(): number;
}

/** Creates the per-client token buckets behind {@link rateLimit}. */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const now = options.now ?? Date.now;
  const perMs = options.perMinute / 60_000;
  const capacity = Math.max(1, options.burst ?? options.perMinute);
  const buckets = new Map<string, Bucket>();

  function refill(bucket: Bucket, at: number): void {
    bucket.tokens = Math.min(capacity, bucket.tokens + (at - bucket.updatedAt) * perMs);
    bucket.updatedAt = at;
  }

  function sweep(at: number): void {
    for (const [client, bucket] of buckets) {
      refill(bucket, at);
      if (bucket.tokens >= capacity) buckets.delete(client);
    }
    // Still too many busy clients: forget the oldest, which only ever loosens their limit.
    for (const client of buckets.keys()) {
      if (buckets.size <= MAX_CLIENTS) break;
      buckets.delete(client);
    }
  }

  return {
    enabled: options.perMinute > 0,
    size: () => buckets.size,
    take(client) {
      if (options.perMinute <= 0) return { allowed: true, remaining: Infinity };
      const at = now();
      let bucket = buckets.get(client);
      if (!bucket) {
        if (buckets.size >= SWEEP_ABOVE) sweep(at);
        bucket = { tokens: capacity, updatedAt: at };
        buckets.set(client, bucket);
      } else refill(bucket, at);
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return { allowed: true, remaining: Math.floor(bucket.tokens) };
      }
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000)) };
    },
  };
}

/** The client's address as the socket saw it; `unknown` when there is no socket (in-process requests). */
function remoteAddress(c: Context): string {
  return nodeRequest(c)?.socket?.remoteAddress ?? 'unknown';
}

/**
 * Limits requests per API key (by its label), or per client address for requests
 * without a valid key, answering 429 with Retry-After. A wrong key counts against the
 * address it came from, so guessing keys is throttled like any other traffic.
 */
export function rateLimit(limiter: RateLimiter, auth: Pick<AuthOptions, 'keys'>): MiddlewareHandler {
  return async (c, next) => {
    if (!limiter.enabled) return next();
    const label = keyLabelOf(auth, requestHeader(c, 'authorization'));
    const client = label ? `key:${label}` : `ip:${remoteAddress(c)}`;
    const decision = limiter.take(client);
    if (!decision.allowed) {
      throw new AppError('rate_limited', `too many requests; retry in ${decision.retryAfterSeconds} s`, {
        retryAfterSeconds: decision.retryAfterSeconds,
      });
    }
    return next();
  };
}
