/**
 * `@portcullis/binding-prisma`: the Portcullis storage contract on Prisma ORM 7 (PostgreSQL
 * through `@prisma/adapter-pg`, SQLite through `@prisma/adapter-libsql`). `createPrismaStores()` builds the
 * stores over your `PrismaClient`; `bindPrisma()` also registers them on a provider.
 */
import type { Client, CurrentUser, StoreRegistry, Stores, User, UserGrantStore } from '@portcullis/core';
import type { PortcullisPrisma } from './client.js';
import {
  createClientStore,
  createGrantStore,
  createTokenStore,
  createUserGrantStore,
  createUserStore,
  purgeExpiredRows,
} from './stores.js';

export {
  type ClientDelegate,
  type ClientRow,
  type GrantDelegate,
  type GrantKey,
  type GrantRow,
  isConnectionLost,
  type LiveTokensOfClient,
  type LiveTokensOfUser,
  type MigratablePrisma,
  type PortcullisPrisma,
  type TokenDelegate,
  type TokenKey,
  type TokenRow,
  type UserDelegate,
  type UserRow,
} from './client.js';
export { type MigrateOptions, migrate, migrationFile, migrationStatements, type Provider, upgradeColumns } from './migrate.js';
export { createClientStore, createGrantStore, createTokenStore, createUserGrantStore, createUserStore, keyHash } from './stores.js';

/** Options of `createPrismaStores`: a Prisma client whose schema holds the Portcullis models. */
export interface PrismaStoresOptions {
  prisma: PortcullisPrisma;
}

/** The stores this binding provides: the four of `Stores`, and a user's grants (`userGrants`, over tokens and codes). */
export type PrismaStores<U extends User = User, C extends Client = Client> = Required<Stores<U, C>> & { userGrants: UserGrantStore };

/**
 * The stores over a Prisma client, unregistered: for `provider.useStores(...)` or to mix with
 * others. The grant and token stores declare `detectsReplay: true` and `ttlGranularity: 'ms'`.
 * Building them runs no query.
 */
export function createPrismaStores<U extends User = User, C extends Client = Client>(options: PrismaStoresOptions): PrismaStores<U, C> {
  const { prisma } = options;
  return {
    clients: createClientStore<C>(prisma.portcullisClient),
    users: createUserStore<U>(prisma.portcullisUser),
    grants: createGrantStore(prisma.portcullisGrant),
    tokens: createTokenStore(prisma.portcullisToken),
    userGrants: createUserGrantStore(prisma.portcullisToken, prisma.portcullisGrant),
  };
}

/** Options of `bindPrisma`: the Prisma client, and who is signed in while approving an authorization request. */
export interface BindPrismaOptions<U extends User = User> extends PrismaStoresOptions {
  currentUser?: CurrentUser<U>;
}

/**
 * Registers the stores (clients, users, grants, tokens, a user's grants) on a provider as `source: 'binding'`
 * (whatever the application registers itself wins, in any order) and returns them.
 */
export function bindPrisma<U extends User = User, C extends Client = Client>(
  provider: StoreRegistry<U, C>,
  options: BindPrismaOptions<U>,
): PrismaStores<U, C> {
  const stores = createPrismaStores<U, C>(options);
  provider.useStores(stores, { source: 'binding' });
  if (options.currentUser) provider.setCurrentUser(options.currentUser, { source: 'binding' });
  return stores;
}

/**
 * Deletes codes and tokens whose `expiresAt` is before `now` (default: the current time), from a
 * scheduled job. Expired rows are never returned; this only reclaims their space. Returns how
 * many rows went.
 */
export function purgeExpired(options: PrismaStoresOptions & { now?: Date }): Promise<number> {
  return purgeExpiredRows({ grants: options.prisma.portcullisGrant, tokens: options.prisma.portcullisToken }, options.now);
}
