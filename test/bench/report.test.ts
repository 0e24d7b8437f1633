import { describe, expect, it } from 'vitest';
import {
  checkHolds,
  compareReports,
  formatComparison,
  formatMarkdown,
  formatMarkdownReport,
  formatNumber,
  formatTable,
  mergeLoads,
  percentile,
  ratio,
  replaceBetweenMarkers,
  reportJson,
  scaled,
  summarize,
  target,
  type BenchReport,
} from '../../scripts/bench/report.js';

const load = (requestsPerSec: number, p99Ms: number) => ({
  requestsPerSec,
  p50Ms: p99Ms / 2,
  p99Ms,
  requests: requestsPerSec * 10,
  non2xx: 0,
  errors: 0,
  durationSec: 10,
});

function report(overrides: Partial<BenchReport> = {}): BenchReport {
  return {
    format: 1,
    date: '2026-01-01T00:00:00.000Z',
    command: 'npm run bench',
    quick: false,
    machine: { cpus: 2, cpuModel: 'x', node: 'v20', platform: 'linux x64', memoryMb: 1, loadAverage: [0, 0, 0] },
    service: { backend: 'wasm', model: 'm1', functions: [], notes: [] },
    baselines: { helloGet: load(10_000, 4), minimalIngest: load(5_000, 12), sqliteInsert: { rows: 1000, seconds: 0.01, rowsPerSec: 100_000 } },
    targets: [],
    ...overrides,
  };
}

describe('percentile', () => {
  it('takes the nearest rank of unsorted values', () => {
    const values = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    expect(percentile(values, 0.5)).toBe(5);
    expect(percentile(values, 0.9)).toBe(9);
    expect(percentile(values, 0.99)).toBe(10);
    expect(percentile(values, 0)).toBe(1);
    expect(percentile(values, 1)).toBe(10);
  });

  it('finds the 99th of 1..1000 at 990', () => {
    const values = Array.from({ length: 1000 }, (_, i) => 1000 - i);
    expect(percentile(values, 0.99)).toBe(990);
  });

  it('is null for no values and rejects quantiles outside 0..1', () => {
    expect(percentile([], 0.5)).toBeNull();
    expect(() => percentile([1], 1.5)).toThrow(RangeError);
  });

  it('sorts numerically, not as text', () => {
    expect(percentile([100, 9, 20], 1)).toBe(100);
    expect(percentile([100, 9, 20], 0.34)).toBe(20);
  });
});

describe('ratio and scaled', () => {
  it('divides by the baseline', () => {
    expect(ratio(400, 500)).toBeCloseTo(0.8);
    expect(scaled(0.25, 200_000)).toBe(50_000);
  });

  it('gives null when a side is missing or the baseline is not positive', () => {
    expect(ratio(null, 500)).toBeNull();
    expect(ratio(400, undefined)).toBeNull();
    expect(ratio(400, 0)).toBeNull();
    expect(ratio(Number.NaN, 1)).toBeNull();
    expect(scaled(0.5, null)).toBeNull();
  });
});

describe('target', () => {
  it('passes only when every check holds', () => {
    const pass = target(1, 'ingest', [
      { label: 'req/s', actual: 4100, limit: scaled(0.8, 5000), op: '>=', unit: 'req/s' },
      { label: 'p99', actual: 14.9, limit: 15, op: '<=', unit: 'ms' },
    ]);
    expect(pass.status).toBe('pass');
    const fail = target(1, 'ingest', [
      { label: 'req/s', actual: 4100, limit: 4000, op: '>=', unit: 'req/s' },
      { label: 'p99', actual: 15.1, limit: 15, op: '<=', unit: 'ms' },
    ]);
    expect(fail.status).toBe('fail');
  });

  it('treats the limit as inclusive', () => {
    expect(checkHolds({ label: 'x', actual: 15, limit: 15, op: '<=', unit: '' })).toBe(true);
    expect(checkHolds({ label: 'x', actual: 4000, limit: 4000, op: '>=', unit: '' })).toBe(true);
  });

  it('fails an infinite figure (a timed-out probe) instead of passing it', () => {
    expect(target(4, 'latency', [{ label: 'p99', actual: Number.POSITIVE_INFINITY, limit: 50, op: '<=', unit: 'ms' }]).status).toBe('fail');
  });

  it('is not measured with a reason or a missing figure', () => {
    const withReason = target(3, 'reads', [], {}, 'no forecast route');
    expect(withReason.status).toBe('not measured');
    expect(withReason.reason).toBe('no forecast route');
    const missing = target(2, 'bulk', [{ label: 'rows/s', actual: null, limit: 10, op: '>=', unit: 'rows/s' }]);
    expect(missing.status).toBe('not measured');
    expect(missing.reason).toContain('rows/s');
  });

  it('is not measured, not passed, when the baseline is missing', () => {
    const t = target(1, 'ingest', [{ label: 'req/s', actual: 100, limit: scaled(0.8, undefined), op: '>=', unit: 'req/s' }]);
    expect(t.status).toBe('fail');
    expect(checkHolds(t.checks[0])).toBe(false);
  });
});

describe('summaries and tables', () => {
  const targets = [
    target(1, 'ingest', [{ label: 'req/s', actual: 4500, limit: 4000, op: '>=', unit: 'req/s' }]),
    target(2, 'bulk', [{ label: 'rows/s', actual: 10, limit: 25_000, op: '>=', unit: 'rows/s' }]),
    target(3, 'reads', [], {}, 'no route'),
  ];

  it('counts statuses', () => {
    expect(summarize(targets)).toEqual({ pass: 1, fail: 1, notMeasured: 1 });
  });

  it('prints every target with its verdict and the baselines', () => {
    const text = formatTable(report({ targets }));
    expect(text).toContain('1. ingest: PASS');
    expect(text).toContain('2. bulk: FAIL');
    expect(text).toContain('MISS');
    expect(text).toContain('3. reads: NOT MEASURED (no route)');
    expect(text).toContain('10,000 req/s');
    expect(text).toContain('100,000 rows/s');
    expect(text).toContain('1 pass, 1 fail, 1 not measured');
  });

  it('writes a Markdown row per check', () => {
    const md = formatMarkdown(report({ targets }));
    expect(md).toContain('| 1 | ingest | req/s 4,500 req/s | >= 4,000 req/s | **pass** |');
    expect(md).toContain('| 3 | reads | – | – | not measured: no route |');
  });

  it('formats numbers by size', () => {
    expect(formatNumber(12345.6)).toBe('12,346');
    expect(formatNumber(12.345)).toBe('12.3');
    expect(formatNumber(1.2345)).toBe('1.23');
    expect(formatNumber(0.01234)).toBe('0.012');
    expect(formatNumber(0)).toBe('0');
    expect(formatNumber(3)).toBe('3');
    expect(formatNumber(null)).toBe('–');
    expect(formatNumber(Number.POSITIVE_INFINITY)).toBe('–');
  });
});

describe('comparing runs', () => {
  it('gives the relative change of figures present in both runs', () => {
    const before = report({ targets: [target(1, 'ingest', [{ label: 'req/s', actual: 4000, limit: 3000, op: '>=', unit: 'req/s' }], { p50Ms: 2 })] });
    const after = report({
      baselines: { ...before.baselines, helloGet: load(12_000, 4) },
      targets: [target(1, 'ingest', [{ label: 'req/s', actual: 5000, limit: 3000, op: '>=', unit: 'req/s' }], { p50Ms: 1, newFigure: 3 })],
    });
    const deltas = new Map(compareReports(before, after).map((d) => [d.key, d]));
    expect(deltas.get('target1.req/s')).toMatchObject({ before: 4000, after: 5000, change: 0.25 });
    expect(deltas.get('target1.p50Ms')?.change).toBe(-0.5);
    expect(deltas.get('baseline.helloGet.requestsPerSec')?.change).toBeCloseTo(0.2);
    expect(deltas.has('target1.newFigure')).toBe(false);
  });

  it('reports status changes', () => {
    const before = report({ targets: [target(2, 'bulk', [{ label: 'rows/s', actual: 10, limit: 20, op: '>=', unit: '' }])] });
    const after = report({ targets: [target(2, 'bulk', [{ label: 'rows/s', actual: 30, limit: 20, op: '>=', unit: '' }])] });
    const text = formatComparison(before, after);
    expect(text).toContain('target 2: fail → pass');
    expect(text).toContain('+200.0%');
  });
});

describe('the Markdown report', () => {
  it('names the machine, the command and the backend, and fills the document between its markers', () => {
    const md = formatMarkdownReport(report({ targets: [target(6, 'memory', [{ label: 'RSS', actual: 350, limit: 400, op: '<=', unit: 'MB' }], { afterImportMb: 300 })] }));
    expect(md).toContain('`npm run bench`');
    expect(md).toContain('2 cores');
    expect(md).toContain('tfjs backend `wasm`');
    expect(md).toContain('| 6 | memory | RSS 350 MB | <= 400 MB | **pass** |');
    expect(md).toContain('- 6: afterImportMb 300');
    const doc = 'intro\n<!-- bench:start -->\nold table\n<!-- bench:end -->\nanalysis';
    const updated = replaceBetweenMarkers(doc, 'new table');
    expect(updated).toBe('intro\n<!-- bench:start -->\nnew table\n<!-- bench:end -->\nanalysis');
    expect(() => replaceBetweenMarkers('no markers', 'x')).toThrow(/bench:start/);
    const two = `${doc}\n<!-- profiles:start -->\n<!-- profiles:end -->`;
    expect(replaceBetweenMarkers(two, 'frames', 'profiles')).toContain('<!-- profiles:start -->\nframes\n<!-- profiles:end -->');
    expect(replaceBetweenMarkers(two, 'frames', 'profiles')).toContain('old table');
  });
});

describe('mergeLoads', () => {
  it('adds requests and durations, takes percentiles over all latencies and reports the drift', () => {
    const first = { ...load(100, 0), requests: 1000, durationSec: 10, cpuMsPerRequest: 1, latencies: Array.from({ length: 1000 }, () => 1) };
    const second = { ...load(50, 0), requests: 500, durationSec: 10, cpuMsPerRequest: 4, latencies: Array.from({ length: 500 }, () => 9) };
    const merged = mergeLoads([first, second]);
    expect(merged.requests).toBe(1500);
    expect(merged.requestsPerSec).toBe(75);
    expect(merged.p50Ms).toBe(1);
    expect(merged.p99Ms).toBe(9);
    expect(merged.cpuMsPerRequest).toBe(2);
    expect(merged.drift).toBe(0.5);
    expect(mergeLoads([first]).drift).toBeNull();
    expect(() => mergeLoads([])).toThrow(RangeError);
  });

  it('keeps raw latencies out of the JSON report', () => {
    const r = report({ baselines: { helloGet: { ...load(10, 1), latencies: [1, 2, 3] } } });
    const json = reportJson(r);
    expect(json).not.toContain('latencies');
    expect(JSON.parse(json).baselines.helloGet.requestsPerSec).toBe(10);
  });
});
