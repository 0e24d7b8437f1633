/** Types of scripts/build.mjs, for the TypeScript that calls it (the benchmark, tests). */

/** The repository root. */
export declare const ROOT: string;
/** Where `npm run build` writes the bundles: dist/. */
export declare const OUT_DIR: string;

/** Bundles the service (index.js) and the retrain worker (train-worker.js) into `outDir` (dist/). */
export declare function buildService(options?: { outDir?: string; logLevel?: 'silent' | 'error' | 'warning' | 'info' }): Promise<{ file: string; bytes: number }[]>;
