import { describe, expect, it } from 'vitest';
import { createStaticModelProvider } from '../../src/model/provider.js';
import { createTinyModel } from '../../src/model/testing.js';
import { createService } from '../../src/service.js';

const config = {
  FARESIGHT_DB_PATH: ':memory:',
  FARESIGHT_DB_SYNCHRONOUS: 'NORMAL' as const,
  FARESIGHT_API_KEYS: [],
  FARESIGHT_REQUIRE_KEY_FOR_READS: false,
  FARESIGHT_MODELS_DIR: 'models',
};

describe('GET /readyz', () => {
  it('reports the database, the lag and the serving model', async () => {
    const model = await createTinyModel({ seed: 3 });
    const service = createService({ config, modelProvider: createStaticModelProvider(model) });
    try {
      const res = await service.app.request('/readyz');
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body.status).toBe('ready');
      expect(body.checks.database.ok).toBe(true);
      expect(body.checks.lag.events).toBe(0);
      expect(body.checks.model).toEqual({ version: model.version, trainedAt: model.trainedAt, backend: model.backend });
    } finally {
      await service.close();
    }
  });

  it('says so when no model is loaded, and stays ready for ingestion', async () => {
    const service = createService({ config, modelProvider: createStaticModelProvider(undefined) });
    try {
      const body = await (await service.app.request('/readyz')).json();
      expect(body.status).toBe('ready');
      expect(body.checks.model).toBeNull();
    } finally {
      await service.close();
    }
  });
});
