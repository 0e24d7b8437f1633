export * from './events.js';
export * from './http.js';
export * from './runtime.js';
export * from './service.js';
