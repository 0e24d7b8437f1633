import { FARE_OBSERVED } from '../events/catalog.js';
import { packFareEvent, unpackFareEvent, type FareEvent } from '../events/fare-event.js';

interface PayloadCodec {
  encode(payload: unknown): string;
  decode(text: string): unknown;
}

// Fare events are most of the log, so they are stored packed; every other type as JSON.
const CODECS: Record<string, PayloadCodec> = {
  [FARE_OBSERVED]: { encode: (payload) => packFareEvent(payload as FareEvent), decode: unpackFareEvent },
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
