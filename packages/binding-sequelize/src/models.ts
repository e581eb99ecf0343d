import {
  DataTypes,
  type Model,
  type ModelAttributeColumnOptions,
  type ModelAttributes,
  type ModelOptions,
  type ModelStatic,
  type Sequelize,
} from 'sequelize';

/**
 * A Sequelize model class the stores can use: the default models from `defineModels`, or your
 * own with the attributes documented in the README.
 */
export type PortcullisModel = ModelStatic<Model<ModelAttributesRecord, ModelAttributesRecord>>;

/** Attributes as the stores see them: any names, values read and checked at run time. */
export type ModelAttributesRecord = Record<string, unknown>;

/** Extra columns for a default table, in `sequelize.define` form. */
export type ExtraColumns = ModelAttributes<Model<ModelAttributesRecord, ModelAttributesRecord>, ModelAttributesRecord>;

/** The default models: the four stores', the signing keys' of JWT access tokens and the device requests'. */
export interface PortcullisModels {
  client: PortcullisModel;
  user: PortcullisModel;
  grant: PortcullisModel;
  token: PortcullisModel;
  key: PortcullisModel;
  /** Device authorization requests (RFC 8628). */
  device: PortcullisModel;
  /** Short-lived records of core's `EphemeralStore`: pushed authorization requests (RFC 9126), DPoP proof ids (RFC 9449). */
  ephemeral: PortcullisModel;
}

/** Which table each model lives in. */
export type TableKey = keyof PortcullisModels;

/** Options of `defineModels`, `migrate` and `tableNamesFor`. */
export interface SchemaOptions {
  /** Prepended to every table (and index) name. Default `''`. */
  tablePrefix?: string;
  /**
   * Table names before the prefix. Defaults: `oauth_clients`, `oauth_users`, `oauth_grants`,
   * `oauth_tokens`, `oauth_signing_keys`, `oauth_device_codes`, `oauth_ephemeral`.
   */
  tableNames?: Partial<Record<TableKey, string>>;
  /**
   * Extra columns per table, added to the defaults (e.g. `{ client: { name: DataTypes.STRING } }`).
   * Give `migrate` the same option so the tables get them too. Extra client and user columns
   * come back on the client and user the stores return.
   */
  extend?: Partial<Record<TableKey, ExtraColumns>>;
}

const DEFAULT_TABLES: Record<TableKey, string> = {
  client: 'oauth_clients',
  user: 'oauth_users',
  grant: 'oauth_grants',
  token: 'oauth_tokens',
  key: 'oauth_signing_keys',
  device: 'oauth_device_codes',
  ephemeral: 'oauth_ephemeral',
};

/** The table names `defineModels` and `migrate` use for these options. */
export function tableNamesFor(options: SchemaOptions = {}): Record<TableKey, string> {
  const prefix = options.tablePrefix ?? '';
  const names = { ...DEFAULT_TABLES, ...options.tableNames };
  return {
    client: prefix + names.client,
    user: prefix + names.user,
    grant: prefix + names.grant,
    token: prefix + names.token,
    key: prefix + names.key,
    device: prefix + names.device,
    ephemeral: prefix + names.ephemeral,
  };
}

type Columns = Record<string, ModelAttributeColumnOptions>;

const id = (allowNull = false): ModelAttributeColumnOptions => ({ type: DataTypes.STRING(255), allowNull });
/** Arrays are kept as JSON text: portable across SQLite, PostgreSQL and MariaDB. */
const jsonText = (allowNull = false): ModelAttributeColumnOptions => ({ type: DataTypes.TEXT, allowNull });
/** Millisecond precision everywhere (MariaDB `DATETIME(3)`, PostgreSQL `timestamptz`). */
const date = (allowNull = false): ModelAttributeColumnOptions => ({ type: DataTypes.DATE(3), allowNull });
/** A JWK SHA-256 thumbprint (43 characters of base64url), with room to spare; nullable. */
const jkt = (): ModelAttributeColumnOptions => ({ type: DataTypes.STRING(128), allowNull: true });
/** SHA-256 hex of a code or token: a fixed-size key whatever the key's length. */
const hashColumn = (): ModelAttributeColumnOptions => ({ type: DataTypes.CHAR(64), allowNull: false, primaryKey: true });

/**
 * The columns added after a table's first version, each nullable without a default: `migrate()`
 * adds those an existing table lacks (see upgrade.ts), and the stores work without them on a
 * model of your own that leaves them out (until a record needs one: see the README).
 */
export const ADDED_COLUMNS: Record<TableKey, readonly string[]> = {
  client: [
    'resourceServer',
    'resources',
    'requirePushedAuthorizationRequests',
    'dpopBoundAccessTokens',
    'name',
    'uri',
    'logoUri',
    'clientSecretExpiresAt',
    'secretNeverExpires',
    'registration',
    'registeredAt',
    'firstUsedAt',
  ],
  user: [],
  grant: ['resources', 'dpopJkt', 'authTime'],
  token: ['resources', 'dpopJkt', 'issuedAt', 'authTime'],
  key: [],
  device: ['authTime'],
  ephemeral: [],
};

/** The JSON-array columns of each table (the default models read and write them as arrays). */
export const JSON_COLUMNS: Record<TableKey, readonly string[]> = {
  client: ['redirectUris', 'grantTypes', 'scopes', 'defaultScopes', 'resources', 'registration'],
  user: [],
  grant: ['scopes', 'resources'],
  token: ['scopes', 'resources'],
  key: [],
  device: ['scopes'],
  ephemeral: [],
};

/**
 * The columns of each default table, shared by `defineModels` (for `sync()`) and `migrate`.
 * `dialect` picks LONGTEXT for the ephemeral values on MariaDB/MySQL (plain TEXT elsewhere).
 */
export function columnsFor(table: TableKey, dialect?: string): Columns {
  switch (table) {
    case 'client':
      return {
        id: { ...id(), primaryKey: true },
        secretHash: { type: DataTypes.STRING(255), allowNull: true },
        redirectUris: jsonText(),
        grantTypes: jsonText(),
        scopes: jsonText(),
        defaultScopes: jsonText(true),
        tokenEndpointAuthMethod: { type: DataTypes.STRING(32), allowNull: true },
        // TRUE: a resource server, which may introspect every client's tokens. NULL or FALSE: only
        // its own. `migrate()` adds the column to client tables made before it existed.
        resourceServer: { type: DataTypes.BOOLEAN, allowNull: true },
        // The columns below came with dynamic client registration (RFC 7591/7592); `migrate()`
        // adds them to client tables made before. RFC 8707: the resources the client may ask
        // for, as a JSON array (NULL: any; `[]`: none).
        resources: jsonText(true),
        // RFC 9126 `require_pushed_authorization_requests`, RFC 9449 `dpop_bound_access_tokens`.
        requirePushedAuthorizationRequests: { type: DataTypes.BOOLEAN, allowNull: true },
        dpopBoundAccessTokens: { type: DataTypes.BOOLEAN, allowNull: true },
        // `client_name`, `client_uri`, `logo_uri` (core allows 200 and 2000 characters).
        name: { type: DataTypes.TEXT, allowNull: true },
        uri: { type: DataTypes.TEXT, allowNull: true },
        logoUri: { type: DataTypes.TEXT, allowNull: true },
        // When the secret stops working (`client_secret_expires_at`). `secretNeverExpires` TRUE
        // records a `clientSecretExpiresAt` of `null` (a secret that never expires); both NULL:
        // the client has no such field.
        clientSecretExpiresAt: date(true),
        secretNeverExpires: { type: DataTypes.BOOLEAN, allowNull: true },
        // What registration keeps of a self-registered client, as JSON: the registration access
        // token's digest (never the token), `issuedAt`, `contacts`, `softwareId`,
        // `softwareVersion`, `responseTypes`. NULL for clients that did not register themselves.
        registration: jsonText(true),
        // For the purge of never-used registrations (`purgeUnusedClients`): when a self-registered
        // client registered (`registration.issuedAt`) and when it was first issued a token (NULL:
        // never). Both NULL for other clients; `registeredAt` NULL also for clients registered
        // before `migrate()` added the columns, which the purge therefore never removes.
        registeredAt: date(true),
        firstUsedAt: date(true),
      };
    case 'user':
      return {
        id: { ...id(), primaryKey: true },
        username: id(),
        passwordHash: { type: DataTypes.STRING(255), allowNull: false },
      };
    case 'grant':
      return {
        codeHash: hashColumn(),
        clientId: { ...id(), primaryKey: true },
        userId: id(),
        // NULL: the authorization request left redirect_uri out. `migrate()` relaxes the NOT NULL
        // that tables made by 0.1 have (see upgrade.ts).
        redirectUri: { type: DataTypes.TEXT, allowNull: true },
        scopes: jsonText(),
        expiresAt: date(),
        grantId: id(),
        codeChallenge: { type: DataTypes.STRING(255), allowNull: true },
        codeChallengeMethod: { type: DataTypes.STRING(8), allowNull: true },
        consumedAt: date(true),
        // RFC 8707: the resources the authorization request named, as a JSON array; NULL when it
        // named none. `migrate()` adds the column to grant tables made before it existed.
        resources: jsonText(true),
        // RFC 9449: the DPoP key thumbprint (`dpop_jkt`) the code is bound to; NULL when it is not
        // bound. `migrate()` adds the column to grant tables made before it existed.
        dpopJkt: jkt(),
        // When the user authenticated (the `auth_time` of RFC 9068 that the code's JWT access tokens
        // carry); NULL when the application did not say. `migrate()` adds the column to older
        // grant tables.
        authTime: date(true),
      };
    case 'token':
      return {
        tokenHash: hashColumn(),
        kind: { type: DataTypes.STRING(7), allowNull: false, primaryKey: true },
        clientId: id(),
        userId: id(true),
        scopes: jsonText(),
        expiresAt: date(),
        grantId: id(),
        consumedAt: date(true),
        revokedAt: date(true),
        // RFC 8707, as a JSON array: an access token's audience, a refresh token's resources (those
        // of its grant); NULL when there are none. `migrate()` adds the column to older token tables.
        resources: jsonText(true),
        // RFC 9449: the DPoP key thumbprint the token is bound to (`cnf.jkt`); NULL for a bearer
        // token. `migrate()` adds the column to older token tables.
        dpopJkt: jkt(),
        // When core issued the token (a user's "connected apps" view shows it); NULL for tokens
        // saved without it. `migrate()` adds the column to older token tables.
        issuedAt: date(true),
        // A refresh token's `authTime` (when the user authenticated, carried into the `auth_time`
        // of the JWT access tokens it refreshes to); NULL for access tokens and for refresh tokens
        // saved without it. `migrate()` adds the column to older token tables.
        authTime: date(true),
      };
    case 'key':
      // Signing keys of JWT access tokens: a handful of rows. `publicJwk` is JSON text,
      // `privateKey` the compact JWE core encrypted (the plain private key is never here).
      return {
        kid: { ...id(), primaryKey: true },
        alg: { type: DataTypes.STRING(16), allowNull: false },
        publicJwk: { type: DataTypes.TEXT, allowNull: false },
        privateKey: { type: DataTypes.TEXT, allowNull: false },
        createdAt: date(),
        activatesAt: date(),
        retiresAt: date(true),
      };
    case 'device':
      // Device authorization requests (RFC 8628). `deviceCode` is core's digest of the device's
      // code. `activeUserCode` holds `userCode` while it may name this request (unique: two live
      // requests never share a user code); a new request whose user code an expired one holds sets
      // the expired one's to NULL first. `version` grows on every change, so a poll (read, then
      // `UPDATE ... WHERE version = read`) applies to exactly the state it read.
      return {
        deviceCode: { type: DataTypes.STRING(255), allowNull: false, primaryKey: true },
        userCode: { type: DataTypes.STRING(16), allowNull: false },
        activeUserCode: { type: DataTypes.STRING(16), allowNull: true },
        clientId: id(),
        scopes: jsonText(),
        expiresAt: date(),
        interval: { type: DataTypes.INTEGER, allowNull: false },
        lastPolledAt: date(true),
        status: { type: DataTypes.STRING(8), allowNull: false },
        userId: id(true),
        grantId: id(),
        version: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
        // An approval's `authTime` (when the user authenticated); NULL while pending, when denied,
        // or when the approval did not say. `migrate()` adds the column to older device tables.
        authTime: date(true),
      };
    case 'ephemeral':
      // Core's `EphemeralStore`: `key` (at most 200 printable ASCII characters) is the primary key;
      // `value` is text of up to 64 KiB (LONGTEXT on MariaDB/MySQL, whose TEXT holds 64 KiB of
      // bytes only), kept with NUL and backslash escaped (see createEphemeralStore).
      return {
        key: { type: DataTypes.STRING(255), allowNull: false, primaryKey: true },
        value: { type: dialect === 'mariadb' || dialect === 'mysql' ? DataTypes.TEXT('long') : DataTypes.TEXT, allowNull: false },
        expiresAt: date(),
      };
  }
}

/** One secondary index. */
export interface IndexDefinition {
  name: string;
  unique?: boolean;
  fields: string[];
}

/** The secondary indexes of each table (primary keys cover the code and token lookups). */
export function indexesFor(table: TableKey, tableName: string): IndexDefinition[] {
  switch (table) {
    case 'client':
      return [];
    case 'user':
      return [{ name: `${tableName}_username`, unique: true, fields: ['username'] }];
    case 'grant':
      // No (userId, clientId) index: `revokeUserGrants` scans codes, which live minutes and are purged.
      return [{ name: `${tableName}_expires_at`, fields: ['expiresAt'] }];
    case 'token':
      return [
        { name: `${tableName}_grant_id`, fields: ['grantId'] },
        { name: `${tableName}_expires_at`, fields: ['expiresAt'] },
        // A user's tokens per client, for `listUserGrants` and `revokeUserGrants`.
        { name: `${tableName}_user_client`, fields: ['userId', 'clientId'] },
      ];
    case 'key':
      return [];
    case 'device':
      return [
        { name: `${tableName}_active_user_code`, unique: true, fields: ['activeUserCode'] },
        { name: `${tableName}_expires_at`, fields: ['expiresAt'] },
      ];
    case 'ephemeral':
      return [{ name: `${tableName}_expires_at`, fields: ['expiresAt'] }];
  }
}

/**
 * Table options per dialect: on MariaDB/MySQL a binary collation, so lookups are exact
 * (case-sensitive; on MariaDB also without trailing-space padding) and any Unicode text fits.
 */
export function tableOptionsFor(sequelize: Sequelize): { charset?: string; collate?: string } {
  const dialect = sequelize.getDialect();
  if (dialect === 'mariadb') return { charset: 'utf8mb4', collate: 'utf8mb4_nopad_bin' };
  if (dialect === 'mysql') return { charset: 'utf8mb4', collate: 'utf8mb4_bin' };
  return {};
}

/** The getters this binding defines for array columns stored as JSON text. */
const jsonGetters = new WeakSet<object>();

/** Whether `getter` is one of this binding's JSON-text getters (which `toArray` can stand in for). */
export function isJsonTextGetter(getter: unknown): boolean {
  return typeof getter === 'function' && jsonGetters.has(getter);
}

function withJsonAccessors(columns: Columns, jsonColumns: readonly string[]): ExtraColumns {
  const out: ExtraColumns = {};
  for (const [name, column] of Object.entries(columns)) {
    if (!jsonColumns.includes(name)) {
      out[name] = column;
      continue;
    }
    const get = function (this: Model) {
      const raw: unknown = this.getDataValue(name);
      return typeof raw === 'string' ? JSON.parse(raw) : raw;
    };
    jsonGetters.add(get);
    out[name] = {
      ...column,
      get,
      set(this: Model, value: unknown) {
        this.setDataValue(name, value === null || value === undefined || typeof value === 'string' ? value : JSON.stringify(value));
      },
    };
  }
  return out;
}

/**
 * Defines the default models on `sequelize` (model name = table name) and returns them; array
 * columns are read and written as arrays. Add columns with `options.extend`, or write your own
 * models with the attributes listed in the README. Create the tables with `sequelize.sync()` in
 * development, or `migrate()` in production.
 */
export function defineModels(sequelize: Sequelize, options: SchemaOptions = {}): PortcullisModels {
  const names = tableNamesFor(options);
  const tableOptions = tableOptionsFor(sequelize);
  const define = (table: TableKey): PortcullisModel => {
    const modelOptions: ModelOptions = {
      tableName: names[table],
      timestamps: false,
      indexes: indexesFor(table, names[table]),
      ...tableOptions,
    };
    const attributes = { ...withJsonAccessors(columnsFor(table, sequelize.getDialect()), JSON_COLUMNS[table]), ...options.extend?.[table] };
    return sequelize.define(names[table], attributes, modelOptions);
  };
  return {
    client: define('client'),
    user: define('user'),
    grant: define('grant'),
    token: define('token'),
    key: define('key'),
    device: define('device'),
    ephemeral: define('ephemeral'),
  };
}
