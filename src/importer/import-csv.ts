import { parse } from 'csv-parse';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { FareEvent } from '../events/fare-event.js';
import { AppError } from '../errors.js';
import { ingestFareEvents } from '../ingest.js';
import type { RuntimeStorage } from '../runtime/types.js';
import {
  mapRow,
  MappingError,
  resolveMapping,
  type ColumnMapping,
  type MappedField,
  type ResolvedMapping,
} from './mapping.js';

/** Events per transaction: large enough to amortise the commit, small enough to keep locks short. */
export const DEFAULT_BATCH_SIZE = 5000;
/** The reason a row whose key holds other content is rejected with. */
export const CONFLICT_REASON = 'conflict';

/** One rejected row. */
export interface Rejection {
  /** The line of the file the row ends on (the header is line 1). */
  line: number;
  reason: string;
  /** The row's cells; absent for records the CSV parser could not read. */
  record?: readonly string[];
}

/** How often one reason occurred, and the line of its first row. */
export interface ReasonCount {
  reason: string;
  count: number;
  firstLine: number;
}

/** What an import did. Every row read is accepted, a duplicate, or rejected. */
export interface ImportSummary {
  read: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  /** Rejections per reason, most frequent first. */
  reasons: ReasonCount[];
  /** Optional default columns the file lacks, left unmapped. */
  unmapped: MappedField[];
  /** The highest log seq the import touched (0 if none). */
  maxSeq: number;
  elapsedMs: number;
  rowsPerSecond: number;
}

export interface ImportOptions {
  storage: RuntimeStorage;
  /** Column overrides on top of the Wizz defaults. */
  mapping?: Partial<ColumnMapping>;
  batchSize?: number;
  /** Called after each batch with the rows read so far. */
  onRows?: (rowsRead: number) => void;
  /** Called for every rejected row. */
  onReject?: (rejection: Rejection) => void;
}

/** Fatal for an import: the file cannot be read, or its header does not fit the mapping. */
export class ImportError extends Error {
  override name = 'ImportError';
}

interface Pending {
  event: FareEvent;
  line: number;
  record: readonly string[] | undefined;
}

/**
 * Imports fare events from CSV text, through the API's validation and idempotency:
 * each row is validated on its own (invalid rows are rejected with a reason), valid rows are
 * ingested in atomic batches, and a batch that hits a conflict is retried row by row so that
 * only the conflicting rows are rejected.
 */
export async function importFareCsv(input: Readable, options: ImportOptions): Promise<ImportSummary> {
  const startedAt = performance.now();
  const { storage } = options;
  const batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE);
  const reasons = new Map<string, ReasonCount>();
  let read = 0;
  let accepted = 0;
  let duplicates = 0;
  let rejected = 0;
  let maxSeq = 0;
  let batch: Pending[] = [];

  const reject = (line: number, reason: string, record?: readonly string[]) => {
    rejected++;
    const known = reasons.get(reason);
    if (known) known.count++;
    else reasons.set(reason, { reason, count: 1, firstLine: line });
    options.onReject?.({ line, reason, record });
  };

  const ingestOneByOne = (pending: Pending[]) => {
    const ordered = pending
      .map((p, i) => ({ p, i, time: Date.parse(p.event.observedAt) }))
      .sort((a, b) => a.time - b.time || a.i - b.i);
    for (const { p } of ordered) {
      try {
        const result = ingestFareEvents(storage, [p.event]);
        accepted += result.accepted;
        duplicates += result.duplicates;
        maxSeq = Math.max(maxSeq, result.maxSeq);
      } catch (error) {
        if (!(error instanceof AppError && error.code === 'conflict')) throw error;
        reject(p.line, CONFLICT_REASON, p.record);
      }
    }
  };

  const flush = () => {
    if (batch.length === 0) return;
    const pending = batch;
    batch = [];
    try {
      const result = ingestFareEvents(
        storage,
        pending.map((p) => p.event),
      );
      accepted += result.accepted;
      duplicates += result.duplicates;
      maxSeq = Math.max(maxSeq, result.maxSeq);
    } catch (error) {
      if (!(error instanceof AppError && error.code === 'conflict')) throw error;
      ingestOneByOne(pending);
    }
    options.onRows?.(read);
  };

  let resolved: ResolvedMapping | undefined;
  const keepRecords = options.onReject !== undefined;
  const parser = parse({
    bom: true,
    // A stray quote (`O"P`, `"OT"P`) stays a literal: the row fails validation alone instead of
    // opening a quoted field that swallows the rows after it.
    relax_quotes: true,
    relax_column_count: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    on_skip: (error) => {
      read++;
      reject(typeof error?.lines === 'number' ? error.lines : 0, `unreadable CSV record (${error?.code ?? 'parse error'})`);
    },
  });
  // Rows are handled synchronously as the parser emits them, so `parser.info.lines` is the
  // line the row ends on, and rejections stay in file order with the parser's skips.
  const onRecord = (record: string[]) => {
    if (!resolved) {
      resolved = resolveMapping(record, options.mapping);
      return;
    }
    read++;
    const result = mapRow(record, resolved);
    if (result.event) {
      // Rows are kept only when someone wants rejected rows back: retaining them costs GC time.
      batch.push({ event: result.event, line: parser.info.lines, record: keepRecords ? record : undefined });
      if (batch.length >= batchSize) flush();
    } else {
      reject(parser.info.lines, result.reason, record);
    }
  };
  let failed = false;
  parser.on('data', (record: string[]) => {
    if (failed) return;
    try {
      onRecord(record);
    } catch (error) {
      failed = true;
      parser.destroy(error instanceof MappingError ? new ImportError(error.message) : (error as Error));
    }
  });
  await pipeline(input, parser);
  if (!resolved) throw new ImportError('the file is empty: it has no header row');
  flush();
  options.onRows?.(read);

  const elapsedMs = performance.now() - startedAt;
  return {
    read,
    accepted,
    duplicates,
    rejected,
    reasons: [...reasons.values()].sort((a, b) => b.count - a.count || a.firstLine - b.firstLine),
    unmapped: [...(resolved as ResolvedMapping).skipped],
    maxSeq,
    elapsedMs: Math.round(elapsedMs),
    rowsPerSecond: elapsedMs > 0 ? Math.round((read / elapsedMs) * 1000) : 0,
  };
}

/** An opened CSV file: its decompressed text stream and its size on disk. */
export interface OpenedFile {
  stream: Readable;
  sizeBytes: number;
  gzipped: boolean;
}

/**
 * Opens a CSV file for streaming, gunzipping it when it starts with the gzip magic bytes.
 * `onBytes` receives the count of (compressed) bytes read from disk, for progress.
 */
export async function openFareFile(path: string, onBytes?: (bytesRead: number) => void): Promise<OpenedFile> {
  let sizeBytes: number;
  let gzipped: boolean;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new ImportError(`${path} is not a file`);
    sizeBytes = info.size;
    const handle = await open(path, 'r');
    try {
      const magic = Buffer.alloc(2);
      const { bytesRead } = await handle.read(magic, 0, 2, 0);
      gzipped = bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof ImportError) throw error;
    throw new ImportError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  // Small reads keep the progress (bytes read) close to the bytes actually parsed.
  const file = createReadStream(path, { highWaterMark: 64 * 1024 });
  if (onBytes) {
    let total = 0;
    file.on('data', (chunk) => {
      total += chunk.length;
      onBytes(total);
    });
  }
  if (!gzipped) return { stream: file, sizeBytes, gzipped };
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  file.on('error', (error) => gunzip.destroy(error));
  return { stream: file.pipe(gunzip), sizeBytes, gzipped };
}

/** Opens `path` (plain or gzipped CSV) and imports it: see {@link importFareCsv}. */
export async function importFareFile(
  path: string,
  options: ImportOptions & { onBytes?: (bytesRead: number) => void },
): Promise<ImportSummary> {
  const { stream } = await openFareFile(path, options.onBytes);
  try {
    return await importFareCsv(stream, options);
  } catch (error) {
    if (error instanceof ImportError || error instanceof AppError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    // Stream failures (a truncated gzip, a vanished file) are fatal file errors.
    if (code && /^(Z_|E[A-Z]+$)/.test(code)) throw new ImportError(`cannot read ${path}: ${(error as Error).message}`);
    throw error;
  }
}
