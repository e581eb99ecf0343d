/**
 * Portcullis stores in SQL through Sequelize (SQLite, PostgreSQL, MariaDB/MySQL): clients,
 * users, authorization codes and tokens, with atomic one-time consumption and replay detection.
 */
export { type BindSequelizeOptions, bindSequelize } from './bind.js';
export { createEphemeralStore } from './ephemeral.js';
export { type MigrationLockOptions, MigrationLockTimeoutError, withMigrationLock } from './lock.js';
export {
  defineModels,
  type ExtraColumns,
  type ModelAttributesRecord,
  type PortcullisModel,
  type PortcullisModels,
  type SchemaOptions,
  type TableKey,
  tableNamesFor,
} from './models.js';
export { type MigrateOptions, migrate, type PurgeOptions, purgeExpired } from './schema.js';
export {
  createClientRegistrationStore,
  createClientStore,
  createDeviceCodeStore,
  createGrantStore,
  createKeyStore,
  createSequelizeStores,
  createTokenStore,
  createUserGrantStore,
  createUserStore,
  isConnectionLost,
  keyHash,
  type SequelizeModelsOption,
} from './stores.js';
