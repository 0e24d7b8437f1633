import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import tf from './tfjs.cjs';

/**
 * The tfjs backends, fastest first: native TensorFlow (the optional
 * @tensorflow/tfjs-node package), WebAssembly, then plain JavaScript.
 */
export const BACKENDS = ['tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** Where the backend choice is reported; a pino logger fits. */
export interface BackendLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface TensorflowOptions {
  /** Start the search at this backend instead of the fastest one. */
  prefer?: BackendName;
  logger?: BackendLogger;
}

let chosen: Promise<BackendName> | undefined;

// A variable specifier keeps the type checker and bundlers from requiring the optional package.
const TFJS_NODE = '@tensorflow/tfjs-node';
const WASM = '@tensorflow/tfjs-backend-wasm';
// Backends are loaded (and so registered) only when tried, with require() like tfjs itself (tfjs.cjs).
const require = createRequire(import.meta.url);

async function tryBackend(name: BackendName): Promise<boolean> {
  try {
    if (name === 'tensorflow') {
      require(TFJS_NODE);
    } else if (name === 'wasm') {
      const wasm = require(WASM) as typeof import('@tensorflow/tfjs-backend-wasm');
      // In Node the wasm binaries are read from the package's dist folder, not fetched.
      wasm.setWasmPaths(`${join(dirname(require.resolve(`${WASM}/package.json`)), 'dist')}/`);
    }
    const ok = await tf.setBackend(name);
    await tf.ready();
    // setBackend can fall back silently; trust only what tfjs reports.
    return ok && tf.getBackend() === name;
  } catch {
    return false;
  }
}

/**
 * Picks the fastest tfjs backend that works here, once per process (the backend
 * is tfjs-global state), and logs the choice. Resolves to the backend's name.
 */
export function initTensorflow(options: TensorflowOptions = {}): Promise<BackendName> {
  chosen ??= (async () => {
    const start = options.prefer ? BACKENDS.indexOf(options.prefer) : 0;
    for (const name of BACKENDS.slice(start)) {
      if (await tryBackend(name)) {
        options.logger?.info({ backend: name }, 'tfjs backend selected');
        return name;
      }
      if (name !== 'tensorflow') options.logger?.warn({ backend: name }, 'tfjs backend unavailable; trying the next one');
    }
    throw new Error('no tfjs backend could be initialised');
  })();
  return chosen;
}

export { tf };
