/** A fare was seen: the payload is a validated FareEvent. Sent by clients. */
export const FARE_OBSERVED = 'fare.observed';
/** extract-features folded a fare event into its series: the payload is a FeatureRow. */
export const FEATURES_EXTRACTED = 'features.extracted';
/** predict changed a series' forecast meaningfully: the hook for price alerts. */
export const FORECAST_UPDATED = 'forecast.updated';
/** An operator or the schedule asked for a retrain. */
export const RETRAIN_REQUESTED = 'retrain.requested';

/** Every event type the log holds. */
export const EVENT_TYPES = [FARE_OBSERVED, FEATURES_EXTRACTED, FORECAST_UPDATED, RETRAIN_REQUESTED] as const;
export type EventType = (typeof EVENT_TYPES)[number];
