/**
 * The retrain worker: a child process started by runRetrainInChild (src/model/retrain-runner.ts).
 * It receives one RetrainRequest over IPC, runs the retrain and reports progress and
 * the outcome back, then exits. Training here never blocks the service's event loop.
 */
import Database from 'better-sqlite3';
import { readFareEvents } from '../src/db/training-events.js';
import type { RetrainRequest, WorkerMessage } from '../src/model/retrain-runner.js';
import { runRetrainJob } from '../src/model/retrain.js';

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(message, undefined, undefined, () => resolve());
  });
}

process.once('message', async (request: RetrainRequest) => {
  try {
    let events = request.events;
    if (!events) {
      if (!request.dbPath) throw new Error('the request names neither a database nor events');
      const sqlite = new Database(request.dbPath, { readonly: true, fileMustExist: true });
      try {
        events = readFareEvents(sqlite);
      } finally {
        sqlite.close();
      }
    }
    const outcome = await runRetrainJob(events, request.job, (progress) => void send({ type: 'progress', progress }));
    await send({ type: 'done', outcome });
  } catch (error) {
    await send({ type: 'error', message: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
  }
  process.disconnect?.();
  process.exit(0);
});
