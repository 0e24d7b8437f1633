import { z } from 'zod';

/** The largest price accepted, exclusive, in the event's own currency. */
export const MAX_PRICE = 10_000_000;
const DATE_FIELDS = new Set<PropertyKey | undefined>(['observedAt', 'departureDate']);
const PRICE_RANGE = `price must be above 0 and below ${MAX_PRICE.toLocaleString('en')}`;

const ISO_CURRENCIES = new Set(Intl.supportedValuesOf('currency'));
// ISO 8601 date-time with an explicit zone: Z or ±hh:mm.
const DATETIME_WITH_ZONE_RE =
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;
const DAY_MS = 86_400_000;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The value of `length` ASCII digits at `start`, or -1 if any is not a digit. */
function digitsAt(value: string, start: number, length: number): number {
  let n = 0;
  for (let i = start; i < start + length; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** [year, month, day] of a YYYY-MM-DD prefix naming a real calendar day, or undefined. */
function calendarDay(value: string): [number, number, number] | undefined {
  if (value.charCodeAt(4) !== 45 || value.charCodeAt(7) !== 45) return undefined;
  const year = digitsAt(value, 0, 4);
  const month = digitsAt(value, 5, 2);
  const day = digitsAt(value, 8, 2);
  // Years below 100 are refused, as Date.UTC would read them as 19xx.
  if (year < 100 || month < 1 || month > 12 || day < 1) return undefined;
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= DAYS_IN_MONTH[month - 1] + (leap ? 1 : 0) ? [year, month, day] : undefined;
}

/** True when `value` is a YYYY-MM-DD string naming a real calendar day. */
export function isCalendarDate(value: string): boolean {
  // Checked by hand rather than through Date: it runs several times for every event ingested.
  return typeof value === 'string' && value.length === 10 && calendarDay(value) !== undefined;
}

/** True for an ISO 8601 date-time with an explicit zone, on a real calendar day. */
export function isZonedDateTime(value: string): boolean {
  // Date.parse rolls impossible days over (02-30 becomes 03-01): check the day too.
  return DATETIME_WITH_ZONE_RE.test(value) && calendarDay(value) !== undefined && Number.isFinite(Date.parse(value));
}

/** Epoch ms of the start (00:00Z) of a YYYY-MM-DD day. */
export function dayStartMs(date: string): number {
  const day = date.length === 10 ? calendarDay(date) : undefined;
  return day ? Date.UTC(day[0], day[1] - 1, day[2]) : Date.parse(`${date}T00:00:00Z`);
}

/** Epoch ms of the end (24:00Z, exclusive) of a YYYY-MM-DD day. */
export function dayEndMs(date: string): number {
  return dayStartMs(date) + DAY_MS;
}

// The rules of the fields, shared by the schema and by acceptFareEvent, its fast path.
const AIRPORT_RE = /^[A-Za-z]{3}$/;
const CARRIER_RE = /^[A-Z0-9]{2,3}$/;
const FLIGHT_NUMBER_RE = /^[A-Z0-9]{1,8}$/;
const MAX_ID_LENGTH = 128;
const MAX_FLIGHT_NUMBERS = 16;
const isIsoCurrency = (code: string) => ISO_CURRENCIES.has(code);
/** Whether a fare seen at `observedAt` (epoch ms) may be for a flight on `departureDate`: not after that day. */
const observedInTime = (observedAtMs: number, departureDate: string) => observedAtMs < dayEndMs(departureDate);

/** The message for a field of the wrong type: a missing one is named as missing. */
const typeError =
  (field: string, type: 'string' | 'number') =>
  (issue: { input?: unknown }): string =>
    issue.input === undefined ? `${field} is required` : `${field} must be a ${type}`;

// Built from checks and overwrites only, never transforms: a transform makes a pipe, which cost
// about 1.3 µs per event for the two airport fields alone (measured on the shared data).
const airport = (field: string) =>
  z
    .string({ error: typeError(field, 'string') })
    .regex(AIRPORT_RE, { error: `${field} must be a 3-letter IATA airport code` })
    .toUpperCase();

/**
 * A fare observation as a client sends it: on a route, for a departure date,
 * this price was seen at this time. Unknown fields are rejected.
 */
export const FareEventInput = z
  .strictObject(
    {
      id: z
        .string()
        .min(1, { error: 'id must not be empty' })
        .max(MAX_ID_LENGTH, { error: `id must be at most ${MAX_ID_LENGTH} characters` })
        .optional(),
      origin: airport('origin'),
      destination: airport('destination'),
      departureDate: z
        .string({ error: typeError('departureDate', 'string') })
        .refine(isCalendarDate, { error: 'departureDate must be a real calendar date as YYYY-MM-DD' }),
      observedAt: z
        .string({ error: typeError('observedAt', 'string') })
        .refine(isZonedDateTime, {
          error: 'observedAt must be an ISO 8601 date-time with a zone, e.g. 2016-04-01T09:00:00Z',
        }),
      // zod's number refuses NaN and ±Infinity itself.
      price: z
        .number({ error: typeError('price', 'number') })
        .gt(0, { error: PRICE_RANGE })
        .lt(MAX_PRICE, { error: PRICE_RANGE }),
      currency: z
        .string({ error: typeError('currency', 'string') })
        .refine(isIsoCurrency, {
          error: 'currency must be an ISO 4217 code in upper case, e.g. EUR',
        }),
      carrier: z
        .string()
        .regex(CARRIER_RE, { error: 'carrier must be a 2- or 3-character airline code' })
        .optional(),
      flightNumbers: z
        .array(
          z.string().regex(FLIGHT_NUMBER_RE, {
            error: 'each flight number must be 1 to 8 letters or digits',
          }),
        )
        .max(MAX_FLIGHT_NUMBERS, { error: `at most ${MAX_FLIGHT_NUMBERS} flight numbers` })
        .optional(),
    },
    { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown field(s): ${issue.keys.join(', ')}` : undefined) },
  )
  .superRefine((event, ctx) => {
    if (event.origin === event.destination) {
      ctx.addIssue({ code: 'custom', path: ['destination'], message: 'destination must differ from origin' });
    }
    // The dates are compared only when neither had an issue: both are then known to be valid.
    const datesValid = !ctx.issues.some((issue) => DATE_FIELDS.has(issue.path?.[0]));
    if (datesValid && !observedInTime(Date.parse(event.observedAt), event.departureDate)) {
      ctx.addIssue({
        code: 'custom',
        path: ['observedAt'],
        message: 'observedAt must not be later than the end of the departure date',
      });
    }
  })
  .overwrite((event): FareEvent => {
    // zod's output is a fresh object already: normalise it in place. An overwrite also runs
    // on an event with issues, which is refused anyway: an unreadable time stays as it was.
    event.observedAt = utcIso(event.observedAt);
    return event;
  });

/** A valid zoned date-time as UTC ISO 8601 with milliseconds, e.g. 2016-04-01T09:00:00.000Z. */
function utcIso(value: string): string {
  // Already canonical (what clients that echo our own timestamps send): no Date round trip.
  // Hour 24 is valid input (the next day's 00:00) but never canonical.
  const canonical =
    value.length === 24 && value.charCodeAt(10) === 84 && value.charCodeAt(19) === 46 && value.charCodeAt(23) === 90 && !value.startsWith('24', 11);
  if (canonical) return value;
  const epochMs = Date.parse(value);
  return Number.isFinite(epochMs) ? new Date(epochMs).toISOString() : value;
}

const FIELDS = new Set(Object.keys(FareEventInput.shape));

/**
 * The fast path of {@link FareEventInput}: the event zod would output for `item` when `item`
 * is a valid fare event given as plain JSON data, else undefined, in which case zod decides
 * (and words the issues). It never refuses anything itself, and accepts nothing zod refuses
 * (test/events/fare-event-fast-path.test.ts holds it to zod's answers): zod's object
 * machinery cost about 3.8 µs per event of the shared data, most of bulk validation.
 */
export function acceptFareEvent(item: unknown): FareEvent | undefined {
  if (typeof item !== 'object' || item === null || Object.getPrototypeOf(item) !== Object.prototype) return undefined;
  const raw = item as Record<string, unknown>;
  for (const key in raw) {
    if (!Object.hasOwn(raw, key) || !FIELDS.has(key) || raw[key] === undefined) return undefined;
  }
  const { id, origin, destination, departureDate, observedAt, price, currency, carrier, flightNumbers } = raw;
  if (typeof origin !== 'string' || !AIRPORT_RE.test(origin)) return undefined;
  if (typeof destination !== 'string' || !AIRPORT_RE.test(destination)) return undefined;
  if (typeof departureDate !== 'string' || !isCalendarDate(departureDate)) return undefined;
  if (typeof observedAt !== 'string' || !isZonedDateTime(observedAt)) return undefined;
  if (typeof price !== 'number' || !(price > 0 && price < MAX_PRICE)) return undefined;
  if (typeof currency !== 'string' || !isIsoCurrency(currency)) return undefined;
  if (id !== undefined && (typeof id !== 'string' || id.length < 1 || id.length > MAX_ID_LENGTH)) return undefined;
  if (carrier !== undefined && (typeof carrier !== 'string' || !CARRIER_RE.test(carrier))) return undefined;
  if (flightNumbers !== undefined && !isFlightNumberList(flightNumbers)) return undefined;
  const event = {} as FareEvent;
  // zod's output order: the schema's.
  if (id !== undefined) event.id = id;
  event.origin = origin.toUpperCase();
  event.destination = destination.toUpperCase();
  if (event.origin === event.destination || !observedInTime(Date.parse(observedAt), departureDate)) return undefined;
  event.departureDate = departureDate;
  event.observedAt = utcIso(observedAt);
  event.price = price;
  event.currency = currency;
  if (carrier !== undefined) event.carrier = carrier;
  if (flightNumbers !== undefined) event.flightNumbers = flightNumbers.slice();
  return event;
}

function isFlightNumberList(value: unknown): value is string[] {
  if (!Array.isArray(value) || Object.getPrototypeOf(value) !== Array.prototype || value.length > MAX_FLIGHT_NUMBERS) return false;
  for (let i = 0; i < value.length; i++) {
    const number: unknown = value[i];
    if (typeof number !== 'string' || !FLIGHT_NUMBER_RE.test(number)) return false;
  }
  return true;
}

/** {@link FareEventInput}'s safeParse, through {@link acceptFareEvent} first. */
export function parseFareEvent(item: unknown): ReturnType<typeof FareEventInput.safeParse> {
  const event = acceptFareEvent(item);
  return event ? { success: true, data: event } : FareEventInput.safeParse(item);
}

/** A validated fare event: codes upper-cased, observedAt normalised to UTC ISO. */
export interface FareEvent {
  id?: string;
  origin: string;
  destination: string;
  departureDate: string;
  observedAt: string;
  price: number;
  currency: string;
  carrier?: string;
  flightNumbers?: string[];
}

/**
 * A fare event as the log stores it: a JSON array of its fields by position (origin,
 * destination, departureDate, observedAt, price, currency, carrier, flightNumbers, id), an absent
 * one as null and trailing nulls left off. Half the bytes of the event's JSON object, which the
 * log stored before and {@link unpackFareEvent} still reads; a field added to the schema takes
 * the next position.
 */
export function packFareEvent(event: FareEvent): string {
  // The log takes any payload under the type; what is not a fare event's shape stays JSON.
  if (!packable(event)) return JSON.stringify(event);
  const fields: unknown[] = [event.origin, event.destination, event.departureDate, event.observedAt, event.price, event.currency];
  if (event.carrier !== undefined || event.flightNumbers !== undefined || event.id !== undefined) {
    fields.push(event.carrier ?? null, event.flightNumbers ?? null);
    if (event.id !== undefined) fields.push(event.id);
  }
  return JSON.stringify(fields);
}

const PACKED_FIELDS = new Set(['id', 'origin', 'destination', 'departureDate', 'observedAt', 'price', 'currency', 'carrier', 'flightNumbers']);

function packable(event: FareEvent): boolean {
  for (const key in event) if (!PACKED_FIELDS.has(key)) return false;
  return (
    typeof event.origin === 'string' &&
    typeof event.destination === 'string' &&
    typeof event.departureDate === 'string' &&
    typeof event.observedAt === 'string' &&
    typeof event.price === 'number' &&
    typeof event.currency === 'string' &&
    (event.carrier === undefined || typeof event.carrier === 'string') &&
    (event.flightNumbers === undefined || Array.isArray(event.flightNumbers)) &&
    (event.id === undefined || typeof event.id === 'string')
  );
}

/** The fare event a log row holds, packed ({@link packFareEvent}) or as a JSON object; keys in the schema's order. */
export function unpackFareEvent(text: string): FareEvent {
  if (text.charCodeAt(0) !== 0x5b) return JSON.parse(text) as FareEvent;
  const [origin, destination, departureDate, observedAt, price, currency, carrier, flightNumbers, id] = JSON.parse(text) as [
    string, string, string, string, number, string, string | null | undefined, string[] | null | undefined, string | undefined,
  ];
  const event = {} as FareEvent;
  if (id !== undefined) event.id = id;
  event.origin = origin;
  event.destination = destination;
  event.departureDate = departureDate;
  event.observedAt = observedAt;
  event.price = price;
  event.currency = currency;
  if (carrier != null) event.carrier = carrier;
  if (flightNumbers != null) event.flightNumbers = flightNumbers;
  return event;
}

/** The series a fare event belongs to: route plus departure date, e.g. `BCN-BUD-2016-04-20`. */
export function seriesKeyOf(event: Pick<FareEvent, 'origin' | 'destination' | 'departureDate'>): string {
  return `${event.origin}-${event.destination}-${event.departureDate}`;
}

/** The route of a fare event, e.g. `BCN-BUD`. */
export function routeKeyOf(event: Pick<FareEvent, 'origin' | 'destination'>): string {
  return `${event.origin}-${event.destination}`;
}

/**
 * An event's idempotency key: its client `id`, or else observedAt and the series.
 * The two spaces cannot collide: derived keys start with the year, client ones with `id:`.
 * observedAt comes first from when keys had a unique index on disk, where a live feed's keys,
 * in time order, then landed at its end (migration 0004); the in-memory key index that
 * replaced it (0007) hashes them, so the order no longer matters.
 */
export function idempotencyKeyOf(event: FareEvent): string {
  return event.id !== undefined ? `id:${event.id}` : `${event.observedAt}@${seriesKeyOf(event)}`;
}

/** A canonical serialisation of the event's content, used to tell duplicates from conflicts. */
export function canonicalContent(event: FareEvent): string {
  return JSON.stringify([
    event.id ?? null,
    event.origin,
    event.destination,
    event.departureDate,
    event.observedAt,
    event.price,
    event.currency,
    event.carrier ?? null,
    event.flightNumbers ?? null,
  ]);
}

/** Whole days from the observation's UTC day to the departure date (0 on the day itself). */
export function daysBeforeDeparture(event: Pick<FareEvent, 'observedAt' | 'departureDate'>): number {
  return daysFromTo(Date.parse(event.observedAt), event.departureDate);
}

/** Whole days from the UTC day of `epochMs` to `date` (YYYY-MM-DD): {@link daysBeforeDeparture} for a parsed time. */
export function daysFromTo(epochMs: number, date: string): number {
  return Math.round(dayStartMs(date) / DAY_MS) - Math.floor(epochMs / DAY_MS);
}
