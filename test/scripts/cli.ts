import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `scripts/<script>` with tsx against the database at `dbPath`, like `npm run <script> -- args`. */
export function runScript(script: string, args: string[], dbPath: string): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'scripts', script), ...args],
      {
        cwd: ROOT,
        env: { ...process.env, FARESIGHT_DB_PATH: dbPath, FARESIGHT_LOG_LEVEL: 'silent', FARESIGHT_MODELS_DIR: join(dirname(dbPath), 'models') },
        timeout: 50_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}
