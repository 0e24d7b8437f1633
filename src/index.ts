import { serve } from '@hono/node-server';
import { ConfigError, isLoopback, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { scheduleRetrains, type RetrainSchedule } from './functions/retrain.js';
import { createService } from './service.js';

function main(): void {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.FARESIGHT_LOG_LEVEL);
  if (config.FARESIGHT_API_KEYS.length === 0) {
    logger.warn(
      { host: config.FARESIGHT_HOST },
      isLoopback(config.FARESIGHT_HOST)
        ? 'no API keys configured: writes are open to anyone on this machine'
        : 'no API keys configured and listening beyond loopback: anyone who can reach this port can write',
    );
  }
  const service = createService({ config, logger });
  // The log's idempotency keys are read now rather than by the first write request.
  const warmStarted = performance.now();
  service.storage.warm?.();
  logger.info({ ms: Math.round(performance.now() - warmStarted) }, 'idempotency keys loaded');
  let schedule: RetrainSchedule | undefined;
  if (config.FARESIGHT_RETRAIN_CRON.trim() !== '') {
    try {
      schedule = scheduleRetrains({ cron: config.FARESIGHT_RETRAIN_CRON, storage: service.storage, runtime: service.runtime, logger });
    } catch (error) {
      console.error(`invalid configuration:\n  FARESIGHT_RETRAIN_CRON: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(2);
    }
    logger.info({ cron: config.FARESIGHT_RETRAIN_CRON, next: schedule.nextRun()?.toISOString() }, 'retrain schedule set');
  }
  let stopping = false;
  // Functions start once the first model load is over: predict skips events while no model is
  // loaded, so a backlog processed in the first moments after a restart would keep stale forecasts.
  const modelReady = (service.modelProvider as { ready?: () => Promise<void> }).ready?.() ?? Promise.resolve();
  void modelReady.then(() => {
    if (!stopping) service.runtime.start();
  });
  const server = serve(
    { fetch: service.app.fetch, hostname: config.FARESIGHT_HOST, port: config.FARESIGHT_PORT },
    (info) => logger.info({ url: `http://${info.address}:${info.port}` }, 'faresight is listening'),
  );

  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    schedule?.stop();
    logger.info({ signal }, 'shutting down: finishing in-flight work');
    server.close(async () => {
      await service.close();
      logger.info('stopped');
      process.exit(0);
    });
    // Keep-alive connections would hold close() open; end idle ones now.
    (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main();
