import type { LoggedEvent, NewEvent } from './types.js';

/** Batching of a function's invocations. */
export interface BatchOptions {
  /** The most events handed to one invocation. */
  maxSize: number;
  /** How long to wait for more events before invoking with a partial batch. */
  maxWaitMs: number;
}

/** What a handler receives for one invocation. */
export interface HandlerContext<P, Deps> {
  /**
   * The events of this invocation, in log order; per series, in observedAt order. Their
   * payloads may be shared with other functions (and kept by the storage): never mutate them.
   */
  events: LoggedEvent<P>[];
  deps: Deps;
  /** 1 on the first try of these events, higher on retries. */
  attempt: number;
  /** Emits an event, written in the same transaction as the invocation's effects. */
  emit(event: Omit<NewEvent, 'key' | 'root'>, cause: LoggedEvent): void;
  /**
   * Registers a synchronous state change. Effects run in one transaction with the
   * emitted events and the cursor advance, and only if the handler returns normally.
   */
  effect(apply: () => void): void;
}

export type Handler<P, Deps> = (ctx: HandlerContext<P, Deps>) => void | Promise<void>;

/** A function's declaration: its trigger and how the runtime should operate it. */
export interface FunctionConfig {
  id: string;
  /** The event type(s) that trigger it. */
  on: string | readonly string[];
  batch?: Partial<BatchOptions>;
  /** Retries after the first failure, before the event is dead-lettered. */
  retries?: number;
  /** Base delay of the exponential backoff between retries. */
  backoffMs?: number;
}

/** A declared function: a plain value to register in the runtime's list. */
export interface FaresightFunction<P = any, Deps = any> {
  id: string;
  triggers: readonly string[];
  batch: BatchOptions;
  retries: number;
  backoffMs: number;
  handler: Handler<P, Deps>;
}

const DEFAULTS = { batch: { maxSize: 1, maxWaitMs: 0 }, retries: 3, backoffMs: 200 } as const;

/**
 * Declares an event-triggered function, in the style of inngest's createFunction.
 * It has no side effect: pass the result to `createRuntime` in its list of functions.
 */
export function defineFunction<P, Deps>(config: FunctionConfig, handler: Handler<P, Deps>): FaresightFunction<P, Deps> {
  if (!/^[a-z][a-z0-9-]*$/.test(config.id)) throw new Error(`function id "${config.id}" must be kebab-case`);
  const triggers = typeof config.on === 'string' ? [config.on] : [...config.on];
  if (triggers.length === 0) throw new Error(`function "${config.id}" needs a trigger`);
  return {
    id: config.id,
    triggers,
    batch: { ...DEFAULTS.batch, ...config.batch },
    retries: config.retries ?? DEFAULTS.retries,
    backoffMs: config.backoffMs ?? DEFAULTS.backoffMs,
    handler,
  };
}
