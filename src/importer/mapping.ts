import { isCalendarDate, parseFareEvent, type FareEvent } from '../events/fare-event.js';

/**
 * Which CSV column feeds each fare event field. Optional fields set to `undefined` are not read.
 * `currencyValue` is a fixed currency for every row and wins over the `currency` column.
 */
export interface ColumnMapping {
  origin: string;
  destination: string;
  departureDate: string;
  /** Epoch ms, epoch s (from 1e9), an ISO date-time with a zone, or a bare YYYY-MM-DD date (read as 00:00Z). */
  observedAt: string;
  price: string;
  currency?: string;
  currencyValue?: string;
  /** Multi-valued cells (`UA||DL`, `W6;W6`) give their first value. */
  carrier?: string;
  /** Values split on spaces, `;` or `||`. */
  flightNumbers?: string;
  /**
   * A client id: the idempotency key instead of route + departure date + observedAt.
   * Several comma-separated columns (`legId,searchDate`) are joined with `:` into one id.
   */
  id?: string;
}

/** The fields a mapping may name a column for, in CLI flag order. */
export const MAPPED_FIELDS = [
  'origin',
  'destination',
  'departureDate',
  'observedAt',
  'price',
  'currency',
  'carrier',
  'flightNumbers',
  'id',
] as const;
export type MappedField = (typeof MAPPED_FIELDS)[number];

const OPTIONAL_FIELDS: ReadonlySet<MappedField> = new Set(['currency', 'carrier', 'flightNumbers']);

/** The columns of the Wizz Air fare data (data/wizz-sample.csv.gz): the default mapping. */
export const WIZZ_MAPPING: Readonly<ColumnMapping> = {
  origin: 'origin',
  destination: 'destination',
  departureDate: 'departure_date',
  observedAt: 'search_ts_ms',
  price: 'price_local',
  currency: 'currency',
  carrier: 'carrier',
  flightNumbers: 'flight_numbers',
};

/** A mapping that cannot work on a file, e.g. a named column is missing. Fatal for an import. */
export class MappingError extends Error {
  override name = 'MappingError';
}

/** A mapping bound to one header: the index of each mapped column. */
export interface ResolvedMapping {
  readonly mapping: Readonly<ColumnMapping>;
  readonly header: readonly string[];
  readonly index: Readonly<Partial<Record<MappedField, number>>>;
  /** The columns the id is joined from, in order; empty when no id is mapped. */
  readonly idIndex: readonly number[];
  /** Optional default columns the header lacks, left unmapped. */
  readonly skipped: readonly MappedField[];
}

/**
 * Builds the mapping for a file: the Wizz defaults with `overrides` on top, bound to `header`.
 * An optional default column missing from the header is left out (listed in `skipped`);
 * a column the caller named, or a required one, must exist.
 */
export function resolveMapping(header: readonly string[], overrides: Partial<ColumnMapping> = {}): ResolvedMapping {
  const mapping: ColumnMapping = { ...WIZZ_MAPPING };
  for (const [field, column] of Object.entries(overrides) as [keyof ColumnMapping, string | undefined][]) {
    if (column !== undefined) mapping[field] = column;
  }
  if (mapping.currencyValue !== undefined) delete mapping.currency;
  const positions = new Map<string, number>();
  header.forEach((name, i) => {
    const trimmed = name.trim();
    if (!positions.has(trimmed)) positions.set(trimmed, i);
  });
  const index: Partial<Record<MappedField, number>> = {};
  const skipped: MappedField[] = [];
  const missing: string[] = [];
  const idIndex: number[] = [];
  for (const column of mapping.id?.split(',').map((c) => c.trim()) ?? []) {
    const at = positions.get(column);
    if (at === undefined) missing.push(`id → column "${column}"`);
    else idIndex.push(at);
  }
  for (const field of MAPPED_FIELDS) {
    const column = mapping[field];
    if (column === undefined || field === 'id') continue;
    const at = positions.get(column);
    if (at !== undefined) {
      index[field] = at;
    } else if (OPTIONAL_FIELDS.has(field) && overrides[field] === undefined) {
      delete mapping[field as 'currency' | 'carrier' | 'flightNumbers'];
      skipped.push(field);
    } else {
      missing.push(`${field} → column "${column}"`);
    }
  }
  if (mapping.currency === undefined && mapping.currencyValue === undefined) {
    missing.push('currency: no column and no fixed value (use --currency COLUMN or --currency-value CODE)');
  }
  if (missing.length > 0) {
    throw new MappingError(
      `the file's header does not fit the column mapping:\n  ${missing.join('\n  ')}\n  header: ${header.join(', ')}`,
    );
  }
  return { mapping, header, index, idIndex, skipped };
}

const EPOCH_RE = /^\d+(\.\d+)?$/;
// An epoch number below this is read as seconds: 1e11 s is the year 5138, 1e11 ms is 1973.
const EPOCH_SECONDS_BELOW = 1e11;
// Epoch seconds before 2001-09-09 are refused: such small numbers are more likely compact dates
// (20160110) or day counts than times, and no fare feed reaches back that far.
const EPOCH_SECONDS_FROM = 1e9;

/**
 * Normalises an observed-at cell for the schema: epoch ms or s become UTC ISO date-times,
 * a bare YYYY-MM-DD date becomes that day at 00:00Z, anything else is passed on unchanged
 * for the schema to accept (an ISO date-time with a zone) or reject.
 * Returns undefined for a number that is no plausible epoch time.
 */
export function normaliseObservedAt(value: string): string | undefined {
  if (EPOCH_RE.test(value)) {
    const n = Number(value);
    if (n < EPOCH_SECONDS_FROM) return undefined;
    const date = new Date(Math.round(n < EPOCH_SECONDS_BELOW ? n * 1000 : n));
    return Number.isFinite(date.getTime()) ? date.toISOString() : undefined;
  }
  if (value.length === 10 && isCalendarDate(value)) return `${value}T00:00:00Z`;
  return value;
}

// Multi-valued cells separate values with '||' (Expedia), ';' (Wizz) or spaces.
const VALUE_SEPARATORS = /[\s;|,]+/;

/** The first value of a multi-valued cell such as `UA||DL`. */
export function firstValue(cell: string): string {
  return cell.split(VALUE_SEPARATORS).find((v) => v !== '') ?? '';
}

/** Splits a multi-valued cell such as `3001;3003` or `2376 2377` into its values. */
export function splitValues(cell: string): string[] {
  return cell.split(VALUE_SEPARATORS).filter((v) => v !== '');
}

/** A row turned into an event, or why it cannot be one. Reasons carry no row values, so they can be counted. */
export type RowResult = { event: FareEvent; reason?: undefined } | { event?: undefined; reason: string };

/**
 * Maps one CSV record to a fare event and validates it with the API's schema ({@link parseFareEvent}).
 * Empty optional cells are left out; an empty required cell is a rejection.
 */
export function mapRow(record: readonly string[], resolved: ResolvedMapping): RowResult {
  const { index, mapping, header } = resolved;
  if (record.length !== header.length) {
    return { reason: `row has ${record.length < header.length ? 'fewer' : 'more'} fields than the header` };
  }
  const cell = (field: MappedField): string | undefined => {
    const at = index[field];
    return at === undefined ? undefined : record[at].trim();
  };
  const input: Record<string, unknown> = {};
  for (const field of ['origin', 'destination', 'departureDate', 'observedAt', 'price', 'currency'] as const) {
    const value = cell(field);
    if (value === '') return { reason: `${field} is empty (column ${mapping[field]})` };
    if (value !== undefined) input[field] = value;
  }
  if (mapping.currencyValue !== undefined) input.currency = mapping.currencyValue;
  const observedAt = normaliseObservedAt(input.observedAt as string);
  if (observedAt === undefined) {
    return { reason: `observedAt is a number but no epoch time in seconds or ms (column ${mapping.observedAt})` };
  }
  input.observedAt = observedAt;
  const price = Number(input.price);
  if (!Number.isFinite(price)) return { reason: `price is not a number (column ${mapping.price})` };
  input.price = price;

  const carrier = cell('carrier');
  if (carrier) {
    const first = firstValue(carrier);
    if (first !== '') input.carrier = first;
  }
  const flights = cell('flightNumbers');
  if (flights) {
    const values = splitValues(flights);
    if (values.length > 0) input.flightNumbers = values;
  }
  if (resolved.idIndex.length > 0) {
    const parts = resolved.idIndex.map((at) => record[at].trim());
    if (parts.some((part) => part === '')) return { reason: `id is empty (column ${mapping.id})` };
    input.id = parts.join(':');
  }

  const parsed = parseFareEvent(input);
  if (parsed.success) return { event: parsed.data };
  return { reason: parsed.error.issues[0]?.message ?? 'invalid' };
}
