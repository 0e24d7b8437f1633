/**
 * Cuts the small Wizz Air sample shipped in data/ from the full data set.
 *
 *   npx tsx scripts/make-sample.ts [--input FILE.csv.gz] [--output FILE.csv.gz] [--routes A-B,C-D]
 *
 * Keeps every row (every series, every search day) of the chosen directed routes, in the
 * source's order and byte for byte, so the output is a plain subset of the input.
 * The gzip output is deterministic (no timestamp in the header), so re-running gives the same file.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { createGunzip, createGzip, constants } from 'node:zlib';

/** Two round trips that are scraped over the whole search period and often down to departure. */
const DEFAULT_SAMPLE_ROUTES = ['CRL-OTP', 'OTP-CRL', 'MMX-SKP', 'SKP-MMX'];

const { values } = parseArgs({
  options: {
    input: { type: 'string', default: '../shared/data/fares/wizz-fares.csv.gz' },
    output: { type: 'string', default: 'data/wizz-sample.csv.gz' },
    routes: { type: 'string', default: DEFAULT_SAMPLE_ROUTES.join(',') },
  },
});

const routes = new Set(values.routes.split(',').map((r) => r.trim().toUpperCase()).filter(Boolean));

async function* sampleLines(input: string): AsyncGenerator<string> {
  const lines = createInterface({ input: createReadStream(input).pipe(createGunzip()), crlfDelay: Infinity });
  let originAt = -1;
  let destinationAt = -1;
  for await (const line of lines) {
    if (originAt < 0) {
      const header = line.split(',');
      originAt = header.indexOf('origin');
      destinationAt = header.indexOf('destination');
      if (originAt < 0 || destinationAt < 0) throw new Error(`${input}: the header has no origin/destination column`);
      yield `${line}\n`;
      continue;
    }
    const cells = line.split(',');
    if (routes.has(`${cells[originAt]}-${cells[destinationAt]}`)) yield `${line}\n`;
  }
}

let rows = -1;
const counted = async function* (source: AsyncGenerator<string>) {
  for await (const line of source) {
    rows++;
    yield line;
  }
};

await pipeline(
  Readable.from(counted(sampleLines(values.input))),
  createGzip({ level: constants.Z_BEST_COMPRESSION }),
  createWriteStream(values.output),
);
console.log(`${values.output}: ${rows.toLocaleString('en')} rows of ${[...routes].join(', ')}`);
