import { keepAliveAgent, send } from './load.js';
import { percentile } from './report.js';
import { asOfMs, forecastPath } from './service.js';
import { sleep } from './processes.js';

/**
 * Event-to-forecast latency: fare events go out at a fixed rate (open loop: the
 * schedule does not wait for the server), and for a sample of requests a probe
 * polls the series' forecast from the moment the POST was accepted (202) until
 * the forecast's asOf reaches that event's observedAt.
 */

export interface SeriesCursor {
  origin: string;
  destination: string;
  departureDate: string;
  currency: string;
  /** The next observedAt to send, epoch ms; advanced by one minute per event. */
  nextMs: number;
  lastPrice: number;
}

export interface LatencyOptions {
  baseUrl: string;
  series: SeriesCursor[];
  eventsPerSec: number;
  eventsPerRequest: number;
  durationSec: number;
  /** Probe one request in this many. */
  sampleEvery: number;
  pollIntervalMs: number;
  /** A probe that has not seen its event by then counts as a timeout. */
  probeTimeoutMs: number;
  /** Requests allowed in flight; beyond it the sender falls behind and the achieved rate shows it. */
  maxInFlight: number;
}

export interface LatencyFigures {
  targetEventsPerSec: number;
  achievedEventsPerSec: number;
  events: number;
  postP99Ms: number | null;
  rejected: number;
  samples: number;
  timeouts: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

export async function eventToForecastLatency(options: LatencyOptions): Promise<LatencyFigures> {
  const postAgent = keepAliveAgent(options.maxInFlight);
  const probeAgent = keepAliveAgent(64);
  const base = new URL(options.baseUrl);
  const eventsUrl = new URL('/v1/events', base);
  const periodMs = (1000 * options.eventsPerRequest) / options.eventsPerSec;
  const totalRequests = Math.round((options.durationSec * 1000) / periodMs);
  const postLatencies: number[] = [];
  const probeLatencies: number[] = [];
  const probes: Promise<void>[] = [];
  let rejected = 0;
  let timeouts = 0;
  let inFlight = 0;
  let sent = 0;
  let accepted = 0;
  let next = 0;
  let lastAcceptedAt = 0;

  const nextEvent = () => {
    const s = options.series[next++ % options.series.length];
    const observedMs = s.nextMs;
    s.nextMs += 60_000;
    // A small walk along the fare ladder, so the series moves like a real one.
    s.lastPrice = Math.max(5, Math.round(s.lastPrice * (next % 7 === 0 ? 1.1 : next % 11 === 0 ? 0.92 : 1)) - 0.01);
    return {
      event: {
        origin: s.origin,
        destination: s.destination,
        departureDate: s.departureDate,
        observedAt: new Date(observedMs).toISOString(),
        price: s.lastPrice,
        currency: s.currency,
      },
      observedMs,
      series: s,
    };
  };

  const probe = async (series: SeriesCursor, observedMs: number, acceptedAt: number) => {
    const url = new URL(forecastPath(series), base);
    const deadline = acceptedAt + options.probeTimeoutMs;
    while (performance.now() < deadline) {
      const res = await send(probeAgent, url, 'GET');
      if (res.status === 200) {
        let body: unknown;
        try {
          body = JSON.parse(res.text);
        } catch {
          body = undefined;
        }
        const asOf = asOfMs(body);
        // A later event of the same series may already show; per-series order means ours was processed too.
        if (asOf !== undefined && asOf >= observedMs) {
          probeLatencies.push(res.doneAt - acceptedAt);
          return;
        }
      }
      await sleep(options.pollIntervalMs);
    }
    timeouts++;
  };

  const post = async (index: number) => {
    const batch = Array.from({ length: options.eventsPerRequest }, nextEvent);
    const body = JSON.stringify(batch.map((b) => b.event));
    const startedAt = performance.now();
    inFlight++;
    try {
      const res = await send(postAgent, eventsUrl, 'POST', body);
      if (res.status !== 202) {
        rejected += batch.length;
        return;
      }
      accepted += batch.length;
      lastAcceptedAt = Math.max(lastAcceptedAt, res.doneAt);
      postLatencies.push(res.doneAt - startedAt);
      if (index % options.sampleEvery === 0) {
        const probed = batch[batch.length - 1];
        probes.push(probe(probed.series, probed.observedMs, res.doneAt));
      }
    } catch {
      rejected += batch.length;
    } finally {
      inFlight--;
    }
  };

  const posts: Promise<void>[] = [];
  const startedAt = performance.now();
  // The schedule ends with the duration even when the server fell behind: the achieved rate shows it.
  const endsAt = startedAt + options.durationSec * 1000;
  while (sent < totalRequests && performance.now() < endsAt) {
    const due = startedAt + sent * periodMs;
    const wait = due - performance.now();
    if (wait > 1) {
      await sleep(wait);
      continue;
    }
    if (inFlight >= options.maxInFlight) {
      await sleep(1);
      continue;
    }
    posts.push(post(sent));
    sent++;
  }
  const sendSeconds = (performance.now() - startedAt) / 1000;
  await Promise.all(posts);
  // A server that queues requests answers after the window: the rate is over the time until its last answer.
  const acceptSeconds = Math.max(sendSeconds, (lastAcceptedAt - startedAt) / 1000);
  await Promise.all(probes);
  postAgent.destroy();
  probeAgent.destroy();
  return {
    targetEventsPerSec: options.eventsPerSec,
    achievedEventsPerSec: accepted / acceptSeconds,
    events: accepted,
    postP99Ms: percentile(postLatencies, 0.99),
    rejected,
    samples: probeLatencies.length + timeouts,
    timeouts,
    p50Ms: percentile(probeLatencies, 0.5),
    // A timed-out probe counts as slower than every answered one.
    p99Ms: percentile([...probeLatencies, ...new Array(timeouts).fill(Number.POSITIVE_INFINITY)], 0.99),
    maxMs: probeLatencies.length > 0 ? Math.max(...probeLatencies) : null,
  };
}
