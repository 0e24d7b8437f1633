/**
 * The build: `npm run build` (run before `npm start`) bundles the service and the retrain
 * worker into dist/, so they start with plain `node` instead of transforming TypeScript at start.
 *
 *   dist/index.js         the service (src/index.ts)
 *   dist/train-worker.js  the retrain worker (scripts/train-worker.ts) that the service forks
 *
 * Packages stay external: they are loaded from node_modules as usual (native better-sqlite3, the
 * wasm binaries, the optional @tensorflow/tfjs-node). Each bundled module keeps its own
 * location: `import.meta.url` in a source file means that file, so paths relative to it
 * (public/, src/db/migrations) resolve as they do when src/ runs directly.
 *
 * Plain JavaScript, so that building needs nothing but node and esbuild.
 */
import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const OUT_DIR = join(ROOT, 'dist');

/** Rewrites `import.meta.url` in our own sources to the URL of the source file itself. */
const sourceLocation = (outDir) => ({
  name: 'source-location',
  setup(b) {
    b.onLoad({ filter: /\.[cm]?ts$/ }, async (args) => {
      if (args.path.split(sep).includes('node_modules')) return undefined;
      const source = await readFile(args.path, 'utf8');
      if (!source.includes('import.meta.url')) return undefined;
      const fromOut = posix(relative(outDir, args.path));
      return {
        contents: source.replaceAll('import.meta.url', `new URL(${JSON.stringify(fromOut)}, import.meta.url).href`),
        loader: 'ts',
      };
    });
  },
});

const posix = (path) => path.split(sep).join('/');

/** Builds dist/ (or `outDir`); resolves with the output files and their sizes. */
export async function buildService({ outDir = OUT_DIR, logLevel = 'warning' } = {}) {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { index: 'src/index.ts', 'train-worker': 'scripts/train-worker.ts' },
    outdir: outDir,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    // The built service forks the built worker (src/model/retrain-runner.ts, TRAIN_WORKER_PATH).
    define: { FARESIGHT_TRAIN_WORKER: JSON.stringify(posix(relative(ROOT, join(outDir, 'train-worker.js')))) },
    // Modules that load CommonJS packages with require() (src/model/tfjs.cjs) need one in ESM.
    banner: { js: "import { createRequire as __faresightCreateRequire } from 'node:module';\nconst require = __faresightCreateRequire(import.meta.url);" },
    plugins: [sourceLocation(outDir)],
    metafile: true,
    logLevel,
  });
  return Object.entries(result.metafile.outputs).map(([file, { bytes }]) => ({ file, bytes }));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  const outputs = await buildService();
  const js = outputs.filter((o) => o.file.endsWith('.js'));
  const quiet = process.argv.includes('--quiet');
  if (!quiet) {
    const sizes = js.map((o) => `${relative(ROOT, resolve(ROOT, o.file))} ${(o.bytes / 1024).toFixed(0)} kB`).join(', ');
    process.stderr.write(`built ${sizes} in ${(performance.now() - started).toFixed(0)} ms\n`);
  }
}
