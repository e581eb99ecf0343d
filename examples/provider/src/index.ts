/** The example provider as a library: tests and other apps start it with `createApp(parseConfig(env))`. */
export { type App, type AppOptions, createApp, DEMO_SUBJECT, DEMO_USERNAME, type DemoUser, safeReturnTo } from './app.js';
export {
  type AppConfig,
  ConfigError,
  type DatabaseConfig,
  type GrantCacheConfig,
  parseConfig,
  parseDatabaseUrl,
  parseDuration,
  parseGrantCache,
  parseGrants,
  type RateLimitConfig,
  redactUrl,
} from './config.js';
export { DEMO_CLIENT_ID, DEMO_SCOPES } from './demo.js';
export { escapeHtml, Html, html } from './html.js';
export { type AppLogger, createLogger, type LogSink } from './log.js';
export { type ClientAuthRateLimit, createClientAuthRateLimit, FailureCounter } from './rate-limit.js';
export { applySeed, loadSeedFile, parseSeed, type SeedClient, SeedError, type SeedFile, type SeedUser } from './seed.js';
export { openStorage, type Storage, type UserInput } from './storage.js';
