/** A fare was seen: the payload is a validated FareEvent, the event's time its observedAt in epoch ms. Sent by clients. */
export const FARE_OBSERVED = 'fare.observed';
/**
 * extract-features folded fare events into their series: the payload is the FeatureRow of a
 * series' latest observation in the batch, the one predict forecasts from. Delivered inline
 * (see {@link INLINE_EVENT_TYPES}): the features are derived data, recomputable from the log,
 * so they are handed to predict in memory, not stored.
 */
export const FEATURES_EXTRACTED = 'features.extracted';
/** predict changed a series' forecast meaningfully: the hook for price alerts. */
export const FORECAST_UPDATED = 'forecast.updated';
/** An operator or the schedule asked for a retrain. */
export const RETRAIN_REQUESTED = 'retrain.requested';

/** Every event type functions are triggered by or emit. */
export const EVENT_TYPES = [FARE_OBSERVED, FEATURES_EXTRACTED, FORECAST_UPDATED, RETRAIN_REQUESTED] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * Event types delivered in memory, inside the invocation that emits them: the functions
 * they trigger commit in the emitter's transaction, and the log never holds them.
 */
export const INLINE_EVENT_TYPES: readonly EventType[] = [FEATURES_EXTRACTED];
