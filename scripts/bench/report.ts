/**
 * The benchmark's arithmetic and presentation, free of I/O so it can be tested:
 * percentiles, the targets as ratios against same-run baselines, the table, and
 * the comparison of two runs.
 */

/** Latency and throughput of one load phase. */
export interface LoadFigures {
  requestsPerSec: number;
  p50Ms: number | null;
  p99Ms: number | null;
  requests: number;
  /** Responses outside 2xx, and socket errors or timeouts. */
  non2xx: number;
  errors: number;
  durationSec: number;
  /** CPU time the server process used per answered request, in ms, when known. */
  cpuMsPerRequest?: number | null;
  /** Every answered request's latency, for merging; left out of the JSON report. */
  latencies?: number[];
}

/** A baseline measured just before and just after the target it is compared with. */
export interface SandwichedFigures extends LoadFigures {
  /** req/s of the second half against the first: how much the machine drifted meanwhile. */
  drift: number | null;
}

/**
 * One figure from loads run apart (a baseline before and after its target): requests and
 * durations add up, percentiles come from all latencies together, CPU time is per request overall.
 */
export function mergeLoads(parts: readonly LoadFigures[]): SandwichedFigures {
  if (parts.length === 0) throw new RangeError('nothing to merge');
  const latencies = parts.flatMap((p) => p.latencies ?? []);
  const requests = parts.reduce((n, p) => n + p.requests, 0);
  const durationSec = parts.reduce((n, p) => n + p.durationSec, 0);
  const withCpu = parts.filter((p) => p.cpuMsPerRequest != null);
  const cpuMs = withCpu.reduce((n, p) => n + p.cpuMsPerRequest! * p.requests, 0);
  const cpuRequests = withCpu.reduce((n, p) => n + p.requests, 0);
  return {
    requestsPerSec: durationSec > 0 ? requests / durationSec : 0,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    requests,
    non2xx: parts.reduce((n, p) => n + p.non2xx, 0),
    errors: parts.reduce((n, p) => n + p.errors, 0),
    durationSec,
    cpuMsPerRequest: cpuRequests > 0 ? cpuMs / cpuRequests : null,
    latencies,
    drift: parts.length > 1 ? ratio(parts[parts.length - 1].requestsPerSec, parts[0].requestsPerSec) : null,
  };
}

/** The report as JSON text, without the raw latencies. */
export function reportJson(report: BenchReport): string {
  return `${JSON.stringify(report, (key, value) => (key === 'latencies' ? undefined : value), 2)}\n`;
}

/** The baselines measured in the same run. */
export interface Baselines {
  /** (a) hello-world hono GET on @hono/node-server, just before and after the forecast reads. */
  helloGet?: LoadFigures | SandwichedFigures;
  /** (b) hono + zod + better-sqlite3 POST of one fare event, just before and after target 1. */
  minimalIngest?: LoadFigures | SandwichedFigures;
  /** (c) raw better-sqlite3 inserts of the bulk rows in one transaction. */
  sqliteInsert?: { rows: number; seconds: number; rowsPerSec: number; cpuUsPerRow?: number | null };
}

export type Comparison = '>=' | '<=';

/** One condition of a target: `actual op limit`. */
export interface Check {
  label: string;
  actual: number | null;
  limit: number | null;
  op: Comparison;
  unit: string;
  /** How the limit was derived, e.g. `0.8 × baseline (b) 5120 req/s`. */
  basis?: string;
}

export type Status = 'pass' | 'fail' | 'not measured';

/** One numbered target with its checks and extra figures worth keeping. */
export interface TargetResult {
  id: number;
  title: string;
  status: Status;
  /** Why a target was not measured. */
  reason?: string;
  checks: Check[];
  figures: Record<string, number | string | null>;
}

/** The whole report, as written to JSON. */
export interface BenchReport {
  format: 1;
  date: string;
  command: string;
  quick: boolean;
  machine: { cpus: number; cpuModel: string; node: string; platform: string; memoryMb: number; loadAverage: number[] };
  service: { backend: string | null; model: string | null; functions: string[]; notes: string[] };
  baselines: Baselines;
  targets: TargetResult[];
}

/** The q-quantile (0..1) of unsorted values by nearest rank, or null when empty. */
export function percentile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  if (q < 0 || q > 1) throw new RangeError(`quantile ${q} is outside 0..1`);
  const sorted = Float64Array.from(values).sort();
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** `value / baseline`, or null when either is missing or the baseline is not positive. */
export function ratio(value: number | null | undefined, baseline: number | null | undefined): number | null {
  if (value == null || baseline == null || !Number.isFinite(value) || !Number.isFinite(baseline) || baseline <= 0) return null;
  return value / baseline;
}

/** `factor × baseline`, or null when the baseline is missing. */
export function scaled(factor: number, baseline: number | null | undefined): number | null {
  return baseline == null || !Number.isFinite(baseline) ? null : factor * baseline;
}

/** True when the check holds; false when it fails or cannot be evaluated. */
export function checkHolds(check: Check): boolean {
  if (check.actual == null || check.limit == null || !Number.isFinite(check.actual)) return false;
  return check.op === '>=' ? check.actual >= check.limit : check.actual <= check.limit;
}

/** Builds a target result: not measured when `reason` is given or a figure is missing, else pass only if every check holds. */
export function target(
  id: number,
  title: string,
  checks: Check[],
  figures: Record<string, number | string | null> = {},
  reason?: string,
): TargetResult {
  if (reason !== undefined) return { id, title, status: 'not measured', reason, checks, figures };
  const missing = checks.filter((c) => c.actual == null);
  if (missing.length > 0) {
    return { id, title, status: 'not measured', reason: `no figure for ${missing.map((c) => c.label).join(', ')}`, checks, figures };
  }
  return { id, title, status: checks.every(checkHolds) ? 'pass' : 'fail', checks, figures };
}

/** Rounds for display: three significant digits below 100, whole numbers above. */
export function formatNumber(value: number | null | undefined): string {
  if (value == null || !Number.isFinite(value)) return '–';
  if (Number.isInteger(value)) return value.toLocaleString('en');
  const abs = Math.abs(value);
  if (abs >= 100) return Math.round(value).toLocaleString('en');
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

function formatCheck(check: Check): string {
  const unit = check.unit ? ` ${check.unit}` : '';
  const verdict = checkHolds(check) ? 'ok' : check.actual == null ? '?' : 'MISS';
  return `${check.label} ${formatNumber(check.actual)}${unit} ${check.op} ${formatNumber(check.limit)}${unit}${check.basis ? ` (${check.basis})` : ''}: ${verdict}`;
}

/** The baselines as rows of [name, figure]. */
export function baselineRows(baselines: Baselines): [string, string][] {
  const rows: [string, string][] = [];
  const load = (f: LoadFigures | SandwichedFigures | undefined) =>
    f
      ? `${formatNumber(f.requestsPerSec)} req/s, p50 ${formatNumber(f.p50Ms)} ms, p99 ${formatNumber(f.p99Ms)} ms` +
        (f.cpuMsPerRequest != null ? `, ${formatNumber(f.cpuMsPerRequest)} CPU ms/req` : '') +
        ('drift' in f && f.drift != null ? ` (after/before ${formatNumber(f.drift)})` : '')
      : 'not measured';
  rows.push(['(a) hono hello GET', load(baselines.helloGet)]);
  rows.push(['(b) hono + zod + better-sqlite3 POST', load(baselines.minimalIngest)]);
  const c = baselines.sqliteInsert;
  rows.push([
    '(c) better-sqlite3 insert, one transaction',
    c
      ? `${formatNumber(c.rowsPerSec)} rows/s (${c.rows.toLocaleString('en')} rows in ${formatNumber(c.seconds)} s)` +
        (c.cpuUsPerRow != null ? `, ${formatNumber(c.cpuUsPerRow)} CPU µs/row` : '')
      : 'not measured',
  ]);
  return rows;
}

/** The report as a plain-text table: baselines, then one block per target. */
export function formatTable(report: Pick<BenchReport, 'baselines' | 'targets'>): string {
  const lines: string[] = [];
  const rows = baselineRows(report.baselines);
  const width = Math.max(...rows.map(([name]) => name.length));
  lines.push('Baselines (same run)');
  for (const [name, figure] of rows) lines.push(`  ${name.padEnd(width)}  ${figure}`);
  lines.push('');
  lines.push('Targets');
  for (const t of report.targets) {
    lines.push(`  ${t.id}. ${t.title}: ${t.status.toUpperCase()}${t.reason ? ` (${t.reason})` : ''}`);
    for (const check of t.checks) lines.push(`       ${formatCheck(check)}`);
    const extra = Object.entries(t.figures).filter(([, v]) => v !== null && v !== undefined);
    if (extra.length > 0) {
      lines.push(`       ${extra.map(([k, v]) => `${k}=${typeof v === 'number' ? formatNumber(v) : v}`).join(', ')}`);
    }
  }
  const counts = summarize(report.targets);
  lines.push('');
  lines.push(`${counts.pass} pass, ${counts.fail} fail, ${counts.notMeasured} not measured`);
  return lines.join('\n');
}

/** The report as a Markdown table, for docs/performance.md. */
export function formatMarkdown(report: Pick<BenchReport, 'baselines' | 'targets'>): string {
  const lines: string[] = [];
  lines.push('| Baseline | Figure |', '| --- | --- |');
  for (const [name, figure] of baselineRows(report.baselines)) lines.push(`| ${name} | ${figure} |`);
  lines.push('');
  lines.push('| # | Target | Measured | Limit | Result |', '| --- | --- | --- | --- | --- |');
  for (const t of report.targets) {
    if (t.checks.length === 0) {
      lines.push(`| ${t.id} | ${t.title} | – | – | ${t.status}${t.reason ? `: ${t.reason}` : ''} |`);
      continue;
    }
    t.checks.forEach((check, i) => {
      const unit = check.unit ? ` ${check.unit}` : '';
      const verdict = i === 0 ? `**${t.status}**${t.reason ? `: ${t.reason}` : ''}` : '';
      lines.push(
        `| ${i === 0 ? t.id : ''} | ${i === 0 ? t.title : ''} | ${check.label} ${formatNumber(check.actual)}${unit} | ${check.op} ${formatNumber(check.limit)}${unit}${check.basis ? ` (${check.basis})` : ''} | ${verdict} |`,
      );
    });
  }
  return lines.join('\n');
}

export function summarize(targets: readonly TargetResult[]): { pass: number; fail: number; notMeasured: number } {
  return {
    pass: targets.filter((t) => t.status === 'pass').length,
    fail: targets.filter((t) => t.status === 'fail').length,
    notMeasured: targets.filter((t) => t.status === 'not measured').length,
  };
}

/** Every numeric figure of a report, flattened to `path → value`, for comparing runs. */
export function flattenFigures(report: Pick<BenchReport, 'baselines' | 'targets'>): Map<string, number> {
  const out = new Map<string, number>();
  const put = (key: string, value: unknown) => {
    if (typeof value === 'number' && Number.isFinite(value)) out.set(key, value);
  };
  for (const [name, figures] of Object.entries(report.baselines)) {
    for (const [key, value] of Object.entries(figures ?? {})) put(`baseline.${name}.${key}`, value);
  }
  for (const t of report.targets) {
    for (const check of t.checks) put(`target${t.id}.${check.label}`, check.actual);
    for (const [key, value] of Object.entries(t.figures)) put(`target${t.id}.${key}`, value);
  }
  return out;
}

/** One figure present in both runs. `change` is relative: +0.1 is 10% higher. */
export interface Delta {
  key: string;
  before: number;
  after: number;
  change: number | null;
}

/** Figures present in both runs, with their relative change. */
export function compareReports(
  before: Pick<BenchReport, 'baselines' | 'targets'>,
  after: Pick<BenchReport, 'baselines' | 'targets'>,
): Delta[] {
  const old = flattenFigures(before);
  const deltas: Delta[] = [];
  for (const [key, value] of flattenFigures(after)) {
    const previous = old.get(key);
    if (previous === undefined) continue;
    deltas.push({ key, before: previous, after: value, change: previous === 0 ? null : (value - previous) / Math.abs(previous) });
  }
  return deltas;
}

/** Deltas as text, plus status changes per target. */
export function formatComparison(before: BenchReport, after: BenchReport): string {
  const lines = [`Compared with ${before.date} (${before.quick ? 'quick' : 'full'} run)`];
  for (const t of after.targets) {
    const was = before.targets.find((o) => o.id === t.id);
    if (was && was.status !== t.status) lines.push(`  target ${t.id}: ${was.status} → ${t.status}`);
  }
  const deltas = compareReports(before, after);
  const width = Math.max(0, ...deltas.map((d) => d.key.length));
  for (const d of deltas) {
    const change = d.change === null ? '' : `${d.change >= 0 ? '+' : ''}${(d.change * 100).toFixed(1)}%`;
    lines.push(`  ${d.key.padEnd(width)}  ${formatNumber(d.before).padStart(10)} → ${formatNumber(d.after).padStart(10)}  ${change}`);
  }
  return lines.join('\n');
}

/** The run's header (machine, date, command, backend) and both tables, as Markdown. */
export function formatMarkdownReport(report: BenchReport): string {
  const m = report.machine;
  const lines = [
    `Run of ${report.date.slice(0, 16).replace('T', ' ')} UTC, \`${report.command}\` (${report.quick ? 'quick' : 'full'} run).`,
    '',
    `- Machine: ${m.cpus} cores (${m.cpuModel}), ${Math.round(m.memoryMb / 1024)} GB, ${m.platform}, Node ${m.node}; load average at the end ${m.loadAverage.join(' / ')}.`,
    `- Service: tfjs backend \`${report.service.backend ?? 'not reported'}\`, model \`${report.service.model ?? 'none'}\`, functions ${report.service.functions.map((f) => `\`${f}\``).join(', ') || 'none listed'}.`,
    ...report.service.notes.map((note) => `- ${note.charAt(0).toUpperCase()}${note.slice(1)}.`),
    '',
    formatMarkdown(report),
    '',
    'Extra figures per target (CPU time is of the measured process, all threads):',
    '',
    ...report.targets.map((t) => {
      const extra = Object.entries(t.figures).filter(([, v]) => v !== null && v !== undefined);
      return `- ${t.id}: ${extra.length > 0 ? extra.map(([k, v]) => `${k} ${typeof v === 'number' ? formatNumber(v) : v}`).join(', ') : '–'}`;
    }),
  ];
  return lines.join('\n');
}

/**
 * Replaces what lies between `<!-- name:start -->` and `<!-- name:end -->` in a document;
 * throws when the markers are missing.
 */
export function replaceBetweenMarkers(document: string, content: string, name = 'bench'): string {
  const open = `<!-- ${name}:start -->`;
  const close = `<!-- ${name}:end -->`;
  const start = document.indexOf(open);
  const end = document.indexOf(close);
  if (start < 0 || end < start) throw new Error(`the document has no ${open} … ${close} section`);
  return `${document.slice(0, start + open.length)}\n${content}\n${document.slice(end)}`;
}
