import type { Delivery, RuntimeStorage } from './types.js';

/** A dead letter as the API and the CLI show it: the delivery, its error and the event it failed on. */
export function describeDeadLetter(storage: RuntimeStorage, delivery: Delivery) {
  const event = storage.log.read(delivery.seq);
  return {
    id: delivery.id,
    functionId: delivery.functionId,
    seq: delivery.seq,
    series: delivery.series,
    attempts: delivery.attempts,
    error: delivery.lastError,
    failedAt: new Date(delivery.updatedAt).toISOString(),
    event: event ? { type: event.type, payload: event.payload } : null,
  };
}
