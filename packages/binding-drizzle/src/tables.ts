/**
 * The default tables, one set per dialect, with the same JavaScript keys in each. Use them as they
 * are (`migrate()` creates them), spread their columns into tables of your own, or hand the store
 * factory tables you already have: the stores read and write only the keys listed in
 * `ClientColumns`, `UserColumns`, `GrantColumns` and `TokenColumns`, by those keys, whatever the
 * SQL names behind them.
 *
 * Lists (scopes, redirect URIs, RFC 8707 resources and audience) are JSON text. Codes and tokens
 * are stored as the SHA-256 hex of the value core hands the store, never the value itself.
 */
import type { Column, Table } from 'drizzle-orm';
import {
  boolean as myBoolean,
  char as myChar,
  datetime as myDatetime,
  index as myIndex,
  int as myInt,
  mediumtext as myMediumtext,
  primaryKey as myPrimaryKey,
  mysqlTable,
  text as myText,
  varchar as myVarchar,
} from 'drizzle-orm/mysql-core';
import {
  boolean as pgBoolean,
  char as pgChar,
  index as pgIndex,
  integer as pgInteger,
  primaryKey as pgPrimaryKey,
  pgTable,
  text as pgText,
  timestamp as pgTimestamp,
} from 'drizzle-orm/pg-core';
import {
  index as liteIndex,
  integer as liteInteger,
  primaryKey as litePrimaryKey,
  text as liteText,
  sqliteTable,
} from 'drizzle-orm/sqlite-core';

/** The keys the client store reads. Other columns of your table come back on the client. */
export type ClientColumns =
  | 'id'
  | 'secretHash'
  | 'redirectUris'
  | 'grantTypes'
  | 'scopes'
  | 'defaultScopes'
  | 'tokenEndpointAuthMethod'
  | 'resourceServer'
  | 'resources';
/**
 * The optional client keys of dynamic client registration (RFC 7591/7592) and the client
 * metadata it sets. The default tables have them all; a table of your own may leave any out (the
 * client store then never returns that field, and the registration store refuses clients that
 * set it).
 */
export type RegistrationClientColumns =
  | 'requirePushedAuthorizationRequests'
  | 'dpopBoundAccessTokens'
  | 'name'
  | 'uri'
  | 'logoUri'
  | 'clientSecretExpiresAt'
  | 'secretNeverExpires'
  | 'registration'
  | 'registeredAt'
  | 'firstUsedAt';
/** The keys the user store reads. Other columns of your table come back on the user. */
export type UserColumns = 'id' | 'username' | 'passwordHash';
/**
 * The keys the grant store reads and writes. The default tables also have `authTime` (when the
 * user authenticated, RFC 9068 `auth_time`), optional in a table of your own: without it, codes
 * are stored and read back without `authTime`.
 */
export type GrantColumns =
  | 'codeHash'
  | 'clientId'
  | 'userId'
  | 'redirectUri'
  | 'scopes'
  | 'expiresAt'
  | 'grantId'
  | 'codeChallenge'
  | 'codeChallengeMethod'
  | 'resources'
  | 'dpopJkt'
  | 'consumedAt';
/**
 * The keys the token store reads and writes. The default tables also have `issuedAt` and
 * `authTime` (a refresh token's RFC 9068 `auth_time`), each optional in a table of your own:
 * without it, tokens are stored and read back without that field.
 */
export type TokenColumns =
  | 'tokenHash'
  | 'kind'
  | 'clientId'
  | 'userId'
  | 'scopes'
  | 'expiresAt'
  | 'grantId'
  | 'audience'
  | 'resources'
  | 'dpopJkt'
  | 'consumedAt'
  | 'revokedAt';

/**
 * The keys the device-code store (RFC 8628) reads and writes. The default tables also have
 * `authTime` (an approval's RFC 9068 `auth_time`), optional in a table of your own: without it,
 * approvals are stored and read back without `authTime`.
 */
export type DeviceColumns =
  | 'deviceCode'
  | 'userCode'
  | 'activeUserCode'
  | 'clientId'
  | 'scopes'
  | 'expiresAt'
  | 'interval'
  | 'lastPolledAt'
  | 'status'
  | 'userId'
  | 'grantId'
  | 'version';

/** The keys of core's ephemeral store (pushed authorization requests, DPoP proof ids). */
export type EphemeralColumns = 'key' | 'value' | 'expiresAt';

/** A Drizzle table (of any dialect) that has at least the columns `K`. */
export type TableWith<K extends string> = Table & { readonly [P in K]: Column };

/** The tables the stores work on. Each may be the default one or a table of your own. */
export interface PortcullisTables {
  clients: TableWith<ClientColumns>;
  users: TableWith<UserColumns>;
  grants: TableWith<GrantColumns>;
  tokens: TableWith<TokenColumns>;
  devices: TableWith<DeviceColumns>;
  ephemeral: TableWith<EphemeralColumns>;
}

/** The SQL table names `migrate()` creates. */
export const TABLE_NAMES = {
  clients: 'portcullis_clients',
  users: 'portcullis_users',
  grants: 'portcullis_grants',
  tokens: 'portcullis_tokens',
  devices: 'portcullis_device_codes',
  ephemeral: 'portcullis_ephemeral',
} as const;

// ---------------------------------------------------------------------------------------------
// PostgreSQL

const pgTime = (name: string) => pgTimestamp(name, { withTimezone: true, precision: 3, mode: 'date' });

/** The PostgreSQL table of registered clients (one row per client id; JSON text for the list fields); extend it or map your own (see the README). */
export const pgClients = pgTable(TABLE_NAMES.clients, {
  id: pgText('id').primaryKey(),
  secretHash: pgText('secret_hash'),
  redirectUris: pgText('redirect_uris').notNull(),
  grantTypes: pgText('grant_types').notNull(),
  scopes: pgText('scopes').notNull(),
  defaultScopes: pgText('default_scopes'),
  tokenEndpointAuthMethod: pgText('token_endpoint_auth_method'),
  resourceServer: pgBoolean('resource_server'),
  resources: pgText('resources'),
  requirePushedAuthorizationRequests: pgBoolean('require_pushed_authorization_requests'),
  dpopBoundAccessTokens: pgBoolean('dpop_bound_access_tokens'),
  name: pgText('name'),
  uri: pgText('uri'),
  logoUri: pgText('logo_uri'),
  clientSecretExpiresAt: pgTime('client_secret_expires_at'),
  secretNeverExpires: pgBoolean('secret_never_expires'),
  registration: pgText('registration'),
  registeredAt: pgTime('registered_at'),
  firstUsedAt: pgTime('first_used_at'),
});

/** The PostgreSQL table of users for the password grant (username, user id, scrypt password hash); extend it or map your own (see the README). */
export const pgUsers = pgTable(TABLE_NAMES.users, {
  id: pgText('id').primaryKey(),
  username: pgText('username').notNull().unique(),
  passwordHash: pgText('password_hash').notNull(),
});

/** The PostgreSQL table of authorization codes by code digest and client, consumed in place (the row stays as a replay marker until it expires); extend it or map your own (see the README). */
export const pgGrants = pgTable(
  TABLE_NAMES.grants,
  {
    codeHash: pgChar('code_hash', { length: 64 }).notNull(),
    clientId: pgText('client_id').notNull(),
    userId: pgText('user_id').notNull(),
    redirectUri: pgText('redirect_uri'),
    scopes: pgText('scopes').notNull(),
    expiresAt: pgTime('expires_at').notNull(),
    grantId: pgText('grant_id').notNull(),
    codeChallenge: pgText('code_challenge'),
    codeChallengeMethod: pgText('code_challenge_method'),
    resources: pgText('resources'),
    dpopJkt: pgText('dpop_jkt'),
    consumedAt: pgTime('consumed_at'),
    authTime: pgTime('auth_time'),
  },
  (t) => [pgPrimaryKey({ columns: [t.codeHash, t.clientId] }), pgIndex('portcullis_grants_expires_at').on(t.expiresAt)],
);

/** The PostgreSQL table of access and refresh tokens by digest, with their family, consumption and revocation stamps; extend it or map your own (see the README). */
export const pgTokens = pgTable(
  TABLE_NAMES.tokens,
  {
    tokenHash: pgChar('token_hash', { length: 64 }).notNull(),
    kind: pgText('kind').notNull(),
    clientId: pgText('client_id').notNull(),
    userId: pgText('user_id'),
    scopes: pgText('scopes').notNull(),
    expiresAt: pgTime('expires_at').notNull(),
    grantId: pgText('grant_id').notNull(),
    audience: pgText('audience'),
    resources: pgText('resources'),
    dpopJkt: pgText('dpop_jkt'),
    consumedAt: pgTime('consumed_at'),
    revokedAt: pgTime('revoked_at'),
    issuedAt: pgTime('issued_at'),
    authTime: pgTime('auth_time'),
  },
  (t) => [
    pgPrimaryKey({ columns: [t.tokenHash, t.kind] }),
    pgIndex('portcullis_tokens_grant_id').on(t.grantId),
    pgIndex('portcullis_tokens_expires_at').on(t.expiresAt),
    pgIndex('portcullis_tokens_user_client').on(t.userId, t.clientId),
  ],
);

/**
 * Device authorization requests (RFC 8628). `activeUserCode` holds the user code while the request
 * is live (unique: no two live requests share a user code) and is cleared when it expires.
 */
export const pgDeviceCodes = pgTable(
  TABLE_NAMES.devices,
  {
    deviceCode: pgText('device_code').primaryKey(),
    userCode: pgText('user_code').notNull(),
    activeUserCode: pgText('active_user_code').unique(),
    clientId: pgText('client_id').notNull(),
    scopes: pgText('scopes').notNull(),
    expiresAt: pgTime('expires_at').notNull(),
    interval: pgInteger('poll_interval').notNull(),
    lastPolledAt: pgTime('last_polled_at'),
    status: pgText('status').notNull(),
    userId: pgText('user_id'),
    grantId: pgText('grant_id').notNull(),
    version: pgInteger('version').notNull().default(0),
    authTime: pgTime('auth_time'),
  },
  (t) => [pgIndex('portcullis_device_codes_expires_at').on(t.expiresAt)],
);

/**
 * Short-lived records of core's `EphemeralStore` (pushed authorization requests, RFC 9126; DPoP
 * proof ids, RFC 9449): `key` is the primary key (SQL name `record_key`), `value` text with NUL and
 * backslashes escaped.
 */
export const pgEphemeral = pgTable(
  TABLE_NAMES.ephemeral,
  {
    key: pgText('record_key').primaryKey(),
    value: pgText('value').notNull(),
    expiresAt: pgTime('expires_at').notNull(),
  },
  (t) => [pgIndex('portcullis_ephemeral_expires_at').on(t.expiresAt)],
);

/** The default PostgreSQL tables (`drizzle-orm/pg-core`). */
export const pgTables = {
  clients: pgClients,
  users: pgUsers,
  grants: pgGrants,
  tokens: pgTokens,
  devices: pgDeviceCodes,
  ephemeral: pgEphemeral,
} satisfies PortcullisTables;

// ---------------------------------------------------------------------------------------------
// MySQL / MariaDB (ids are VARCHAR(255) with a binary collation in the migration: exact matches)

const myTime = (name: string) => myDatetime(name, { mode: 'date', fsp: 3 });
const myId = (name: string) => myVarchar(name, { length: 255 });

/** The MySQL/MariaDB table of registered clients (one row per client id; JSON text for the list fields); extend it or map your own (see the README). */
export const mysqlClients = mysqlTable(TABLE_NAMES.clients, {
  id: myId('id').primaryKey(),
  secretHash: myText('secret_hash'),
  redirectUris: myText('redirect_uris').notNull(),
  grantTypes: myText('grant_types').notNull(),
  scopes: myText('scopes').notNull(),
  defaultScopes: myText('default_scopes'),
  tokenEndpointAuthMethod: myVarchar('token_endpoint_auth_method', { length: 32 }),
  resourceServer: myBoolean('resource_server'),
  resources: myText('resources'),
  requirePushedAuthorizationRequests: myBoolean('require_pushed_authorization_requests'),
  dpopBoundAccessTokens: myBoolean('dpop_bound_access_tokens'),
  name: myText('name'),
  uri: myText('uri'),
  logoUri: myText('logo_uri'),
  clientSecretExpiresAt: myTime('client_secret_expires_at'),
  secretNeverExpires: myBoolean('secret_never_expires'),
  registration: myText('registration'),
  registeredAt: myTime('registered_at'),
  firstUsedAt: myTime('first_used_at'),
});

/** The MySQL/MariaDB table of users for the password grant (username, user id, scrypt password hash); extend it or map your own (see the README). */
export const mysqlUsers = mysqlTable(TABLE_NAMES.users, {
  id: myId('id').primaryKey(),
  username: myId('username').notNull().unique(),
  passwordHash: myText('password_hash').notNull(),
});

/** The MySQL/MariaDB table of authorization codes by code digest and client, consumed in place (the row stays as a replay marker until it expires); extend it or map your own (see the README). */
export const mysqlGrants = mysqlTable(
  TABLE_NAMES.grants,
  {
    codeHash: myChar('code_hash', { length: 64 }).notNull(),
    clientId: myId('client_id').notNull(),
    userId: myId('user_id').notNull(),
    redirectUri: myText('redirect_uri'),
    scopes: myText('scopes').notNull(),
    expiresAt: myTime('expires_at').notNull(),
    grantId: myId('grant_id').notNull(),
    codeChallenge: myId('code_challenge'),
    codeChallengeMethod: myVarchar('code_challenge_method', { length: 16 }),
    resources: myText('resources'),
    dpopJkt: myVarchar('dpop_jkt', { length: 255 }),
    consumedAt: myTime('consumed_at'),
    authTime: myTime('auth_time'),
  },
  (t) => [myPrimaryKey({ columns: [t.codeHash, t.clientId] }), myIndex('portcullis_grants_expires_at').on(t.expiresAt)],
);

/** The MySQL/MariaDB table of access and refresh tokens by digest, with their family, consumption and revocation stamps; extend it or map your own (see the README). */
export const mysqlTokens = mysqlTable(
  TABLE_NAMES.tokens,
  {
    tokenHash: myChar('token_hash', { length: 64 }).notNull(),
    kind: myVarchar('kind', { length: 8 }).notNull(),
    clientId: myId('client_id').notNull(),
    userId: myId('user_id'),
    scopes: myText('scopes').notNull(),
    expiresAt: myTime('expires_at').notNull(),
    grantId: myId('grant_id').notNull(),
    audience: myText('audience'),
    resources: myText('resources'),
    dpopJkt: myVarchar('dpop_jkt', { length: 255 }),
    consumedAt: myTime('consumed_at'),
    revokedAt: myTime('revoked_at'),
    issuedAt: myTime('issued_at'),
    authTime: myTime('auth_time'),
  },
  (t) => [
    myPrimaryKey({ columns: [t.tokenHash, t.kind] }),
    myIndex('portcullis_tokens_grant_id').on(t.grantId),
    myIndex('portcullis_tokens_expires_at').on(t.expiresAt),
    myIndex('portcullis_tokens_user_client').on(t.userId, t.clientId),
  ],
);

/** Device authorization requests (RFC 8628); see `pgDeviceCodes`. */
export const mysqlDeviceCodes = mysqlTable(
  TABLE_NAMES.devices,
  {
    deviceCode: myId('device_code').primaryKey(),
    userCode: myVarchar('user_code', { length: 64 }).notNull(),
    activeUserCode: myVarchar('active_user_code', { length: 64 }).unique(),
    clientId: myId('client_id').notNull(),
    scopes: myText('scopes').notNull(),
    expiresAt: myTime('expires_at').notNull(),
    interval: myInt('poll_interval').notNull(),
    lastPolledAt: myTime('last_polled_at'),
    status: myVarchar('status', { length: 16 }).notNull(),
    userId: myId('user_id'),
    grantId: myId('grant_id').notNull(),
    version: myInt('version').notNull().default(0),
    authTime: myTime('auth_time'),
  },
  (t) => [myIndex('portcullis_device_codes_expires_at').on(t.expiresAt)],
);

/** Core's ephemeral records; see `pgEphemeral`. `value` is MEDIUMTEXT (64 KiB of any text fits). */
export const mysqlEphemeral = mysqlTable(
  TABLE_NAMES.ephemeral,
  {
    key: myId('record_key').primaryKey(),
    value: myMediumtext('value').notNull(),
    expiresAt: myTime('expires_at').notNull(),
  },
  (t) => [myIndex('portcullis_ephemeral_expires_at').on(t.expiresAt)],
);

/** The default MySQL/MariaDB tables (`drizzle-orm/mysql-core`). */
export const mysqlTables = {
  clients: mysqlClients,
  users: mysqlUsers,
  grants: mysqlGrants,
  tokens: mysqlTokens,
  devices: mysqlDeviceCodes,
  ephemeral: mysqlEphemeral,
} satisfies PortcullisTables;

// ---------------------------------------------------------------------------------------------
// SQLite (times are integer milliseconds since the epoch)

const liteTime = (name: string) => liteInteger(name, { mode: 'timestamp_ms' });

/** The SQLite table of registered clients (one row per client id; JSON text for the list fields); extend it or map your own (see the README). */
export const sqliteClients = sqliteTable(TABLE_NAMES.clients, {
  id: liteText('id').primaryKey(),
  secretHash: liteText('secret_hash'),
  redirectUris: liteText('redirect_uris').notNull(),
  grantTypes: liteText('grant_types').notNull(),
  scopes: liteText('scopes').notNull(),
  defaultScopes: liteText('default_scopes'),
  tokenEndpointAuthMethod: liteText('token_endpoint_auth_method'),
  resourceServer: liteInteger('resource_server', { mode: 'boolean' }),
  resources: liteText('resources'),
  requirePushedAuthorizationRequests: liteInteger('require_pushed_authorization_requests', { mode: 'boolean' }),
  dpopBoundAccessTokens: liteInteger('dpop_bound_access_tokens', { mode: 'boolean' }),
  name: liteText('name'),
  uri: liteText('uri'),
  logoUri: liteText('logo_uri'),
  clientSecretExpiresAt: liteTime('client_secret_expires_at'),
  secretNeverExpires: liteInteger('secret_never_expires', { mode: 'boolean' }),
  registration: liteText('registration'),
  registeredAt: liteTime('registered_at'),
  firstUsedAt: liteTime('first_used_at'),
});

/** The SQLite table of users for the password grant (username, user id, scrypt password hash); extend it or map your own (see the README). */
export const sqliteUsers = sqliteTable(TABLE_NAMES.users, {
  id: liteText('id').primaryKey(),
  username: liteText('username').notNull().unique(),
  passwordHash: liteText('password_hash').notNull(),
});

/** The SQLite table of authorization codes by code digest and client, consumed in place (the row stays as a replay marker until it expires); extend it or map your own (see the README). */
export const sqliteGrants = sqliteTable(
  TABLE_NAMES.grants,
  {
    codeHash: liteText('code_hash').notNull(),
    clientId: liteText('client_id').notNull(),
    userId: liteText('user_id').notNull(),
    redirectUri: liteText('redirect_uri'),
    scopes: liteText('scopes').notNull(),
    expiresAt: liteTime('expires_at').notNull(),
    grantId: liteText('grant_id').notNull(),
    codeChallenge: liteText('code_challenge'),
    codeChallengeMethod: liteText('code_challenge_method'),
    resources: liteText('resources'),
    dpopJkt: liteText('dpop_jkt'),
    consumedAt: liteTime('consumed_at'),
    authTime: liteTime('auth_time'),
  },
  (t) => [litePrimaryKey({ columns: [t.codeHash, t.clientId] }), liteIndex('portcullis_grants_expires_at').on(t.expiresAt)],
);

/** The SQLite table of access and refresh tokens by digest, with their family, consumption and revocation stamps; extend it or map your own (see the README). */
export const sqliteTokens = sqliteTable(
  TABLE_NAMES.tokens,
  {
    tokenHash: liteText('token_hash').notNull(),
    kind: liteText('kind').notNull(),
    clientId: liteText('client_id').notNull(),
    userId: liteText('user_id'),
    scopes: liteText('scopes').notNull(),
    expiresAt: liteTime('expires_at').notNull(),
    grantId: liteText('grant_id').notNull(),
    audience: liteText('audience'),
    resources: liteText('resources'),
    dpopJkt: liteText('dpop_jkt'),
    consumedAt: liteTime('consumed_at'),
    revokedAt: liteTime('revoked_at'),
    issuedAt: liteTime('issued_at'),
    authTime: liteTime('auth_time'),
  },
  (t) => [
    litePrimaryKey({ columns: [t.tokenHash, t.kind] }),
    liteIndex('portcullis_tokens_grant_id').on(t.grantId),
    liteIndex('portcullis_tokens_expires_at').on(t.expiresAt),
    liteIndex('portcullis_tokens_user_client').on(t.userId, t.clientId),
  ],
);

/** Device authorization requests (RFC 8628); see `pgDeviceCodes`. */
export const sqliteDeviceCodes = sqliteTable(
  TABLE_NAMES.devices,
  {
    deviceCode: liteText('device_code').primaryKey(),
    userCode: liteText('user_code').notNull(),
    activeUserCode: liteText('active_user_code').unique(),
    clientId: liteText('client_id').notNull(),
    scopes: liteText('scopes').notNull(),
    expiresAt: liteTime('expires_at').notNull(),
    interval: liteInteger('poll_interval').notNull(),
    lastPolledAt: liteTime('last_polled_at'),
    status: liteText('status').notNull(),
    userId: liteText('user_id'),
    grantId: liteText('grant_id').notNull(),
    version: liteInteger('version').notNull().default(0),
    authTime: liteTime('auth_time'),
  },
  (t) => [liteIndex('portcullis_device_codes_expires_at').on(t.expiresAt)],
);

/** Core's ephemeral records; see `pgEphemeral`. */
export const sqliteEphemeral = sqliteTable(
  TABLE_NAMES.ephemeral,
  {
    key: liteText('record_key').primaryKey(),
    value: liteText('value').notNull(),
    expiresAt: liteTime('expires_at').notNull(),
  },
  (t) => [liteIndex('portcullis_ephemeral_expires_at').on(t.expiresAt)],
);

/** The default SQLite tables (`drizzle-orm/sqlite-core`). */
export const sqliteTables = {
  clients: sqliteClients,
  users: sqliteUsers,
  grants: sqliteGrants,
  tokens: sqliteTokens,
  devices: sqliteDeviceCodes,
  ephemeral: sqliteEphemeral,
} satisfies PortcullisTables;
