/**
 * `@portcullis/binding-drizzle`: the Portcullis storage contract on Drizzle ORM, for PostgreSQL,
 * MySQL/MariaDB and SQLite. `createDrizzleStores()` builds the stores over your Drizzle database;
 * `bindDrizzle()` also registers them on a provider.
 */
import type {
  Client,
  ClientRegistrationStore,
  CurrentUser,
  DeviceCodeStore,
  EphemeralStore,
  StoreRegistry,
  Stores,
  User,
  UserGrantStore,
} from '@portcullis/core';
import { createDeviceCodeStore } from './devices.js';
import { type Dialect, type Driver, driverFor, type ExecuteDatabase, type SqliteDatabase } from './driver.js';
import { createEphemeralStore } from './ephemeral.js';
import {
  createClientRegistrationStore,
  createClientStore,
  createGrantStore,
  createTokenStore,
  createUserGrantStore,
  createUserStore,
  purgeExpiredRows,
} from './stores.js';
import { mysqlTables, type PortcullisTables, pgTables, sqliteTables } from './tables.js';

export { createDeviceCodeStore } from './devices.js';
export { type Dialect, type Driver, driverFor, type ExecuteDatabase, isConnectionLost, type SqliteDatabase } from './driver.js';
export { createEphemeralStore, escapeEphemeralValue, unescapeEphemeralValue } from './ephemeral.js';
export { migrate, migrationFile, migrationStatements, upgradeColumns, upgradeIndexes } from './migrate.js';
export {
  createClientRegistrationStore,
  createClientStore,
  createGrantStore,
  createTokenStore,
  createUserGrantStore,
  createUserStore,
  keyHash,
} from './stores.js';
export * from './tables.js';

/** Which database, and the tables to use (each defaults to this package's table of that dialect). */
export type DrizzleStoresOptions =
  | { dialect: 'postgresql'; db: ExecuteDatabase; tables?: Partial<PortcullisTables> }
  | { dialect: 'mysql'; db: ExecuteDatabase; tables?: Partial<PortcullisTables> }
  | { dialect: 'sqlite'; db: SqliteDatabase; tables?: Partial<PortcullisTables> };

const DEFAULT_TABLES: Record<Dialect, PortcullisTables> = { postgresql: pgTables, mysql: mysqlTables, sqlite: sqliteTables };

function resolve(options: DrizzleStoresOptions): { driver: Driver; tables: PortcullisTables } {
  if (!(options.dialect in DEFAULT_TABLES)) {
    throw new TypeError(`binding-drizzle: unknown dialect ${JSON.stringify(options.dialect)} (postgresql, mysql or sqlite)`);
  }
  return { driver: driverFor(options.dialect, options.db), tables: { ...DEFAULT_TABLES[options.dialect], ...options.tables } };
}

/**
 * The stores this binding provides: the four of `Stores`, device authorization requests (RFC 8628),
 * the writes of dynamic client registration (RFC 7591/7592, on the client table) and a user's
 * grants (`userGrants`, over the token and grant tables) and core's short-lived records
 * (`ephemeral`: pushed authorization requests, DPoP proof ids).
 */
export type DrizzleStores<U extends User = User, C extends Client = Client> = Required<Stores<U, C>> & {
  devices: DeviceCodeStore;
  registrations: ClientRegistrationStore<C>;
  userGrants: UserGrantStore;
  ephemeral: EphemeralStore;
};

/**
 * The stores over a Drizzle database, unregistered: for `provider.useStores(...)` or to mix with
 * others. The grant and token stores declare `detectsReplay: true` and `ttlGranularity: 'ms'`.
 * Building them runs no query; each method queries its table when core calls it.
 */
export function createDrizzleStores<U extends User = User, C extends Client = Client>(options: DrizzleStoresOptions): DrizzleStores<U, C> {
  const { driver, tables } = resolve(options);
  return {
    clients: createClientStore<C>(driver, tables.clients),
    users: createUserStore<U>(driver, tables.users),
    grants: createGrantStore(driver, tables.grants),
    tokens: createTokenStore(driver, tables.tokens),
    userGrants: createUserGrantStore(driver, tables.tokens, tables.grants),
    devices: createDeviceCodeStore(driver, tables.devices),
    registrations: createClientRegistrationStore<C>(driver, tables.clients),
    ephemeral: createEphemeralStore(driver, tables.ephemeral),
  };
}

/** Options of `bindDrizzle`: the database, and who is signed in while approving an authorization request. */
export type BindDrizzleOptions<U extends User = User> = DrizzleStoresOptions & { currentUser?: CurrentUser<U> };

/**
 * Registers the stores (clients, users, grants, tokens, device requests, client registration, a user's grants,
 * ephemeral records) on a provider as
 * `source: 'binding'` (whatever the application registers itself wins, in any order) and returns
 * them.
 */
export function bindDrizzle<U extends User = User, C extends Client = Client>(
  provider: StoreRegistry<U, C>,
  options: BindDrizzleOptions<U>,
): DrizzleStores<U, C> {
  const stores = createDrizzleStores<U, C>(options);
  provider.useStores(stores, { source: 'binding' });
  if (options.currentUser) provider.setCurrentUser(options.currentUser, { source: 'binding' });
  return stores;
}

/**
 * Deletes codes, tokens, device requests and ephemeral records whose `expiresAt` is before `now` (default: the current time). Expired
 * rows are never returned; this only reclaims their space, from a scheduled job. Returns how many
 * rows went.
 */
export function purgeExpired(options: DrizzleStoresOptions & { now?: Date }): Promise<number> {
  const { driver, tables } = resolve(options);
  return purgeExpiredRows(driver, tables, options.now);
}
