import type { App, AppDeps } from './context.js';
import { registerDeadLetters } from './dead-letters.js';
import { registerDocs } from './docs.js';
import { registerEvents } from './events.js';
import { registerForecast } from './forecast.js';
import { registerFunctions } from './functions.js';
import { registerHealth } from './health.js';
import { registerModels } from './models.js';
import { registerPage } from './page.js';
import { registerRoutes } from './routes.js';

/** Every route group, registered in one explicit list. */
export const routes: readonly ((app: App, deps: AppDeps) => void)[] = [
  registerHealth,
  registerEvents,
  registerFunctions,
  registerDeadLetters,
  registerForecast,
  registerRoutes,
  registerModels,
  registerDocs,
  registerPage,
];
