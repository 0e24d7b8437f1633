import type { PriceLevel, PriceRange } from './types.js';

/**
 * Where a price sits against the route's typical range for its days-before, as
 * Google Flights shows it: below the range is low, above it high, inside typical.
 * Null when the range is unknown.
 */
export function priceLevelOf(price: number, typical: PriceRange | null): PriceLevel | null {
  if (!typical) return null;
  if (price < typical.low) return 'low';
  if (price > typical.high) return 'high';
  return 'typical';
}
