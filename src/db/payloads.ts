import { FARE_OBSERVED } from '../events/catalog.js';
import { idempotencyKeyOf, packFareEvent, unpackFareEvent, type FareEvent } from '../events/fare-event.js';

interface PayloadCodec {
  encode(payload: unknown): string;
  decode(text: string): unknown;
  /** The idempotency key a payload of this type derives, so that the log need not store it. */
  keyOf?(payload: unknown): string;
}

// Fare events are most of the log: stored packed, their keys derived rather than stored.
// Every other type is stored as JSON with its key.
const CODECS: Record<string, PayloadCodec> = {
  [FARE_OBSERVED]: {
    encode: (payload) => packFareEvent(payload as FareEvent),
    decode: unpackFareEvent,
    keyOf: (payload) => idempotencyKeyOf(payload as FareEvent),
  },
};

/** The text the log stores for a payload of `type`. */
export function encodePayload(type: string, payload: unknown): string {
  const codec = CODECS[type];
  return codec ? codec.encode(payload) : JSON.stringify(payload);
}

/** The payload of a log row of `type`, whichever form it was stored in. */
export function decodePayload(type: string, text: string): unknown {
  const codec = CODECS[type];
  return codec ? codec.decode(text) : JSON.parse(text);
}

/** The idempotency key a (decoded) payload of `type` derives; undefined for a type whose keys are stored. */
export function derivedKeyOf(type: string, payload: unknown): string | undefined {
  return CODECS[type]?.keyOf?.(payload);
}

/** What the log stores as an event's key: null when its payload derives the same key. */
export function storedKeyOf(type: string, key: string, payload: unknown): string | null {
  return derivedKeyOf(type, payload) === key ? null : key;
}

/** The event types whose keys the log may leave to their payloads. */
export const DERIVED_KEY_TYPES: readonly string[] = Object.keys(CODECS).filter((type) => CODECS[type].keyOf);
