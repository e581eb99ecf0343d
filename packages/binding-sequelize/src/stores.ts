import { createHash } from 'node:crypto';
import {
  type AccessTokenRecord,
  type Client,
  type ClientRegistrationInfo,
  type ClientRegistrationStore,
  type ClientStore,
  type Consumed,
  type DeviceCodeRecord,
  type DeviceCodeStatus,
  type DeviceCodeStore,
  type GrantRecord,
  type GrantStore,
  isStoreUnavailable,
  type KeyStore,
  type ProviderStores,
  type RefreshTokenRecord,
  type SigningAlgorithm,
  type SigningKeyRecord,
  StoreUnavailableError,
  type TokenStore,
  type User,
  type UserCredentials,
  type UserGrantStore,
  type UserGrantSummary,
  type UserStore,
} from '@portcullis/core';
import { ConnectionError, literal, type Model, Op, type Transaction, UniqueConstraintError, type WhereOptions, where } from 'sequelize';
import { createEphemeralStore } from './ephemeral.js';
import { isJsonTextGetter, type PortcullisModel, type PortcullisModels } from './models.js';
import { type ColumnKind, columnsOf, type RawAccess, rawAccess } from './raw.js';

/**
 * The key a row is stored under in place of a code or token: SHA-256 hex of its UTF-8 bytes.
 * Fixed length, so empty and 8 KiB keys fit the same `CHAR(64)` column, and the value the store
 * was handed is never at rest.
 */
export function keyHash(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

// ---------------------------------------------------------------------------------------------
// Errors

const LOST_MESSAGE =
  /connection terminated|connection manager was closed|not queryable|socket (has been |unexpectedly )?closed|connection (is )?closed|database is closed|server has gone away|lost connection/i;
const LOST_CODES = new Set([
  'ER_SOCKET_UNEXPECTED_CLOSE',
  'ER_CONNECTION_ALREADY_CLOSED',
  'ER_CMD_CONNECTION_CLOSED',
  'ER_GET_CONNECTION_TIMEOUT',
  'ER_CONNECTION_TIMEOUT',
  'ER_POOL_ALREADY_CLOSED',
  'SQLITE_CANTOPEN',
]);

/** `true` when a Sequelize or driver error means the database cannot be reached right now. */
export function isConnectionLost(err: unknown): boolean {
  if (err instanceof ConnectionError || isStoreUnavailable(err)) return true;
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const { code, fatal, message } = e as { code?: unknown; fatal?: unknown; message?: unknown };
    if (fatal === true) return true; // mariadb: the connection itself is unusable
    // PostgreSQL SQLSTATE class 08 (connection exception) and 57P01-57P03 (server shutting down).
    if (typeof code === 'string' && (LOST_CODES.has(code) || /^(08...|57P0[1-3])$/.test(code))) return true;
    if (typeof message === 'string' && LOST_MESSAGE.test(message)) return true;
    const next = e as { cause?: unknown; original?: unknown; parent?: unknown };
    e = next.original ?? next.parent ?? next.cause;
  }
  return false;
}

/** `true` for a deadlock (MariaDB/MySQL errno 1213, PostgreSQL SQLSTATE 40P01) anywhere in a Sequelize error's chain. */
export function isDeadlock(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const { code, errno } = e as { code?: unknown; errno?: unknown };
    if (code === 'ER_LOCK_DEADLOCK' || errno === 1213 || code === '40P01') return true;
    const next = e as { cause?: unknown; original?: unknown; parent?: unknown };
    e = next.original ?? next.parent ?? next.cause;
  }
  return false;
}

/**
 * How often a store operation is tried when the database picks one of its statements as a
 * deadlock's victim. InnoDB does so when a refresh token's new pair is inserted while a replay
 * revokes the same family (the `UPDATE ... WHERE grantId` and the `INSERT` lock the same index
 * gap). The victim's statement, or its whole transaction, was rolled back, and every operation's
 * writes are one statement or one transaction (reads after them take no locks), so running the
 * operation again is safe. Past the last attempt the store answers `StoreUnavailableError`.
 */
export const DEADLOCK_ATTEMPTS = 4;

/**
 * Runs a store operation, again when it was a deadlock's victim (see `DEADLOCK_ATTEMPTS`), turning
 * a lost connection or a lasting deadlock into `StoreUnavailableError` (core: 503).
 */
export async function guard<T>(op: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (isConnectionLost(err)) throw new StoreUnavailableError('The SQL database cannot be reached', { cause: err });
      if (!isDeadlock(err)) throw err;
      if (attempt >= DEADLOCK_ATTEMPTS) {
        throw new StoreUnavailableError('The SQL database kept choosing the operation as a deadlock victim', { cause: err });
      }
      await new Promise((resolve) => setTimeout(resolve, attempt * 2 + Math.floor(Math.random() * 5)));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Column helpers

type Row = Record<string, unknown>;

/** The character limit of a `STRING(n)`/`CHAR(n)` attribute; `Infinity` for other types. */
function maxLength(model: PortcullisModel, attribute: string): number {
  const type = model.getAttributes()[attribute as never]?.type as
    | { key?: string; _length?: number; options?: { length?: number } }
    | undefined;
  if (!type || (type.key !== 'STRING' && type.key !== 'CHAR')) return Number.POSITIVE_INFINITY;
  return type._length ?? type.options?.length ?? 255;
}

/** Throws at creation when a model lacks an attribute the store reads or writes. */
function requireAttributes(model: PortcullisModel, store: string, attributes: readonly string[]): void {
  const have = model.getAttributes() as Record<string, unknown>;
  const missing = attributes.filter((a) => !(a in have));
  if (missing.length > 0) {
    throw new TypeError(
      `${store}: the model ${model.name} lacks the attribute(s) ${missing.join(', ')} (see the README for the attributes each store needs)`,
    );
  }
}

/** `true` when `value` can be stored in (or looked up against) a column of `max` characters. */
function fits(value: string, max: number): boolean {
  if (value.includes('\u0000')) return false; // PostgreSQL text cannot hold NUL
  if (value.length <= max) return true;
  let n = 0;
  for (const _ of value) if (++n > max) return false;
  return true;
}

/** Limits of the given string attributes of a model, read once. */
function limitsOf<K extends string>(model: PortcullisModel, attributes: readonly K[]): Record<K, number> {
  return Object.fromEntries(attributes.map((a) => [a, maxLength(model, a)])) as Record<K, number>;
}

/** Throws a clear error (naming the field, never the value) when a value does not fit. */
function requireFits(value: string | null, max: number, what: string): void {
  if (value !== null && !fits(value, max)) {
    throw new RangeError(`${what} is longer than ${max} characters or contains a NUL character`);
  }
}

function toArray(value: unknown): string[] {
  const parsed: unknown = typeof value === 'string' ? JSON.parse(value) : value;
  return Array.isArray(parsed) ? parsed.map(String) : [];
}

/** Writes an array the way the attribute takes it: as is for JSON/ARRAY columns or a custom setter, else JSON text. */
function arrayWriter(model: PortcullisModel, attribute: string): (value: readonly string[]) => unknown {
  const column = model.getAttributes()[attribute as never] as { type?: { key?: string }; set?: unknown } | undefined;
  const key = column?.type?.key;
  const native = key === 'JSON' || key === 'JSONB' || key === 'ARRAY' || typeof column?.set === 'function';
  return native ? (value) => [...value] : (value) => JSON.stringify(value);
}

/**
 * Writes an optional RFC 8707 list (`GrantRecord.resources`, `AccessTokenRecord.audience`,
 * `RefreshTokenRecord.resources`) to `attribute`: the array when it has values, NULL when it is
 * absent or empty. A model without the attribute takes records without values only; one with
 * values throws (naming the attribute, never a value) rather than losing the binding.
 */
function listWriter(model: PortcullisModel, attribute: string, store: string): (value: readonly string[] | undefined) => unknown {
  if (!(attribute in (model.getAttributes() as Record<string, unknown>))) {
    return (value) => {
      if (value && value.length > 0) {
        throw new TypeError(
          `${store}: the model ${model.name} lacks the attribute ${attribute}, needed for resource indicators (RFC 8707); migrate() adds it to the default tables`,
        );
      }
      return undefined;
    };
  }
  const write = arrayWriter(model, attribute);
  return (value) => (value && value.length > 0 ? write(value) : null);
}

/**
 * Writes an optional DPoP key thumbprint (RFC 9449 `dpopJkt`) to `attribute`: the string when
 * set, NULL when absent. A model without the attribute takes unbound records only; a bound one
 * throws (naming the attribute, never the value), since dropping the thumbprint would turn a
 * DPoP-bound token into a bearer token.
 */
function jktWriter(model: PortcullisModel, attribute: string, store: string): (value: string | undefined) => string | null | undefined {
  if (!(attribute in (model.getAttributes() as Record<string, unknown>))) {
    return (value) => {
      if (value !== undefined && value !== '') {
        throw new TypeError(
          `${store}: the model ${model.name} lacks the attribute ${attribute}, needed for DPoP-bound records (RFC 9449); migrate() adds it to the default tables`,
        );
      }
      return undefined;
    };
  }
  const max = maxLength(model, attribute);
  return (value) => {
    if (value === undefined || value === '') return null;
    requireFits(value, max, `${store}: dpopJkt`);
    return value;
  };
}

/** Reads an optional DPoP key thumbprint: `undefined` (the record leaves the field out) for NULL or ''. */
function toJkt(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * Writes an optional `authTime` (when the user authenticated) to `attribute`: a copy of the date
 * when set, NULL when absent, or `undefined` (nothing written) when the model has no such
 * attribute. It is informational (a store that drops it loses only the `auth_time` claim), so a
 * model of your own without the attribute stores records without it, like `issuedAt`.
 */
function authTimeWriter(model: PortcullisModel, attribute: string, store: string): (value: Date | undefined) => Date | null | undefined {
  if (!(attribute in (model.getAttributes() as Record<string, unknown>))) return () => undefined;
  return (value) => {
    if (value === undefined) return null;
    if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new TypeError(`${store}: authTime must be a valid Date`);
    return new Date(value.getTime());
  };
}

/** Reads an optional `authTime`: `undefined` (the record leaves the field out) for NULL. */
function toAuthTime(value: unknown): Date | undefined {
  return value === null || value === undefined ? undefined : toDate(value);
}

/** Reads an optional RFC 8707 list: `undefined` (the record leaves the field out) for NULL or an empty array. */
function toList(value: unknown): string[] | undefined {
  if (value === null || value === undefined) return undefined;
  const list = toArray(value);
  return list.length > 0 ? list : undefined;
}

function toDate(value: unknown): Date {
  return value instanceof Date ? new Date(value.getTime()) : new Date(value as string);
}

function plain(row: Model): Row {
  return row.get({ plain: true }) as Row;
}

/** `{ [name]: value }`, or nothing when `value` is `undefined` (an attribute the model lacks). */
const withValue = (name: string, value: unknown): Row => (value === undefined ? {} : { [name]: value });

const str = (value: unknown): string => String(value);
const optStr = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));
/**
 * A flag column read strictly: `true` only for a true boolean, or the `1`/`'1'`/`'true'` a model
 * of your own may hand back for an integer or text column. NULL and anything else is `false`.
 */
const flag = (value: unknown): boolean => value === true || value === 1 || value === '1' || value === 'true';

// ---------------------------------------------------------------------------------------------
// Clients and users

/** The client columns this binding reads itself (every other attribute comes back as it is). */
const FLAG_CLIENT_COLUMNS = new Set([
  'resourceServer',
  'requirePushedAuthorizationRequests',
  'dpopBoundAccessTokens',
  'secretNeverExpires',
]);
const JSON_CLIENT_COLUMNS = new Set(['redirectUris', 'grantTypes', 'scopes', 'defaultScopes', 'resources', 'registration']);
const DATE_CLIENT_COLUMNS = new Set(['clientSecretExpiresAt', 'registeredAt', 'firstUsedAt']);

/** A flag read back as `true`, `false` (`0`, `'0'`, `'false'` from a model of your own) or `undefined` for NULL. */
function triFlag(value: unknown): boolean | undefined {
  if (flag(value)) return true;
  return value === false || value === 0 || value === '0' || value === 'false' ? false : undefined;
}

/** Parses JSON text, or takes the value as is when the model's getter already parsed it. */
function fromJson(value: unknown): unknown {
  return typeof value === 'string' ? JSON.parse(value) : value;
}

/** `registration` as stored (JSON, `issuedAt` as ISO text) back to core's `ClientRegistrationInfo`. */
function toRegistration(value: unknown): ClientRegistrationInfo | undefined {
  if (value === null || value === undefined) return undefined;
  const r = fromJson(value) as Record<string, unknown>;
  const info: Record<string, unknown> = {
    accessTokenHash: str(r.accessTokenHash),
    issuedAt: toDate(r.issuedAt),
    responseTypes: toArray(r.responseTypes),
  };
  if (Array.isArray(r.contacts)) info.contacts = toArray(r.contacts);
  if (typeof r.softwareId === 'string') info.softwareId = r.softwareId;
  if (typeof r.softwareVersion === 'string') info.softwareVersion = r.softwareVersion;
  return info as unknown as ClientRegistrationInfo;
}

/** A client row (through the model or the direct lookup) as core's `Client`; `null` when the id is not exactly `clientId`. */
function clientFromRow(found: Row, clientId: string): Row | null {
  const {
    defaultScopes,
    tokenEndpointAuthMethod,
    resourceServer,
    resources,
    requirePushedAuthorizationRequests,
    dpopBoundAccessTokens,
    name,
    uri,
    logoUri,
    clientSecretExpiresAt,
    secretNeverExpires,
    registration,
    registeredAt: _registeredAt,
    firstUsedAt,
    ...v
  } = found;
  if (str(v.id) !== clientId) return null; // exact match whatever the column collation
  const client: Row = {
    ...v,
    id: clientId,
    secretHash: optStr(v.secretHash),
    redirectUris: toArray(v.redirectUris),
    grantTypes: toArray(v.grantTypes),
    scopes: toArray(v.scopes),
  };
  if (defaultScopes !== null && defaultScopes !== undefined) client.defaultScopes = toArray(defaultScopes);
  if (tokenEndpointAuthMethod) client.tokenEndpointAuthMethod = str(tokenEndpointAuthMethod);
  if (flag(resourceServer)) client.resourceServer = true;
  if (resources !== null && resources !== undefined) client.resources = toArray(resources);
  const par = triFlag(requirePushedAuthorizationRequests);
  if (par !== undefined) client.requirePushedAuthorizationRequests = par;
  const dpop = triFlag(dpopBoundAccessTokens);
  if (dpop !== undefined) client.dpopBoundAccessTokens = dpop;
  if (typeof name === 'string') client.name = name;
  if (typeof uri === 'string') client.uri = uri;
  if (typeof logoUri === 'string') client.logoUri = logoUri;
  if (clientSecretExpiresAt !== null && clientSecretExpiresAt !== undefined) client.clientSecretExpiresAt = toDate(clientSecretExpiresAt);
  else if (flag(secretNeverExpires)) client.clientSecretExpiresAt = null;
  const reg = toRegistration(registration);
  if (reg) {
    client.registration =
      firstUsedAt !== null && firstUsedAt !== undefined ? ({ ...reg, firstUsedAt: toDate(firstUsedAt) } as ClientRegistrationInfo) : reg;
  }
  return client;
}

/**
 * A `ClientStore` over a client model (attributes: `id`, `secretHash`, `redirectUris`,
 * `grantTypes`, `scopes`, and the optional `defaultScopes`, `tokenEndpointAuthMethod`,
 * `resourceServer`, `resources`, `requirePushedAuthorizationRequests`, `dpopBoundAccessTokens`,
 * `name`, `uri`, `logoUri`, `clientSecretExpiresAt`, `secretNeverExpires`, `registration`). Extra
 * attributes of your model come back on the client. `resourceServer` comes back as `true` when
 * the column holds true and is left out otherwise (NULL, false, or no such attribute); the other
 * optional fields are left out for NULL.
 */
export function createClientStore<C extends Client = Client>(model: PortcullisModel): ClientStore<C> {
  requireAttributes(model, 'createClientStore', ['id', 'secretHash', 'redirectUris', 'grantTypes', 'scopes']);
  const limits = limitsOf(model, ['id']);
  const direct = directClientLookup(model);
  return {
    getClient: (clientId) =>
      guard(async () => {
        if (!fits(clientId, limits.id)) return null;
        let found: Row | undefined;
        if (direct) found = (await direct.select(direct.lookup, [clientId]))[0];
        else {
          const row = await model.findOne({ where: { id: clientId } });
          found = row ? plain(row) : undefined;
        }
        if (!found) return null;
        return clientFromRow(found, clientId) as unknown as C | null;
      }),
  };
}

/**
 * The columns of a client row for `client`, every one this binding knows (NULL for an absent
 * field, so an update replaces the whole record). Extra attributes of your model are written when
 * the client carries them. A field the model has no attribute for throws (naming the attribute,
 * never the value) when the client sets it, rather than dropping it.
 */
function clientWriter(model: PortcullisModel): (client: Client) => Row {
  const attrs = model.getAttributes() as Record<string, unknown>;
  const has = (a: string) => a in attrs;
  const idMax = maxLength(model, 'id');
  const write = {
    redirectUris: arrayWriter(model, 'redirectUris'),
    grantTypes: arrayWriter(model, 'grantTypes'),
    scopes: arrayWriter(model, 'scopes'),
    defaultScopes: has('defaultScopes') ? arrayWriter(model, 'defaultScopes') : null,
    resources: has('resources') ? arrayWriter(model, 'resources') : null,
  };
  const registrationNative = (() => {
    const column = attrs.registration as { type?: { key?: string }; set?: unknown } | undefined;
    const key = column?.type?.key;
    return key === 'JSON' || key === 'JSONB' || typeof column?.set === 'function';
  })();
  const known = new Set([
    'id',
    'secretHash',
    'redirectUris',
    'grantTypes',
    'scopes',
    'defaultScopes',
    'tokenEndpointAuthMethod',
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
  ]);
  const set = (row: Row, attribute: string, value: unknown, given: boolean) => {
    if (has(attribute)) row[attribute] = value;
    else if (given) {
      throw new TypeError(
        `createClientRegistrationStore: the model ${model.name} lacks the attribute ${attribute}; migrate() adds it to the default client table`,
      );
    }
  };
  return (c) => {
    requireFits(c.id, idMax, 'createClient: id');
    const row: Row = {
      id: c.id,
      secretHash: c.secretHash,
      redirectUris: write.redirectUris(c.redirectUris),
      grantTypes: write.grantTypes(c.grantTypes),
      scopes: write.scopes(c.scopes),
    };
    set(
      row,
      'defaultScopes',
      c.defaultScopes && write.defaultScopes ? write.defaultScopes(c.defaultScopes) : null,
      c.defaultScopes !== undefined,
    );
    set(row, 'tokenEndpointAuthMethod', c.tokenEndpointAuthMethod ?? null, c.tokenEndpointAuthMethod !== undefined);
    set(row, 'resourceServer', c.resourceServer ?? null, c.resourceServer === true);
    set(row, 'resources', c.resources && write.resources ? write.resources(c.resources) : null, c.resources !== undefined);
    const par = c.requirePushedAuthorizationRequests;
    set(row, 'requirePushedAuthorizationRequests', par ?? null, par !== undefined);
    set(row, 'dpopBoundAccessTokens', c.dpopBoundAccessTokens ?? null, c.dpopBoundAccessTokens !== undefined);
    for (const a of ['name', 'uri', 'logoUri'] as const) set(row, a, c[a] ?? null, c[a] !== undefined);
    const at = c.clientSecretExpiresAt;
    set(row, 'clientSecretExpiresAt', at ?? null, at instanceof Date);
    set(row, 'secretNeverExpires', at === null ? true : null, at === null);
    const r = c.registration;
    let reg: unknown = null;
    if (r) {
      const stored = {
        accessTokenHash: r.accessTokenHash,
        issuedAt: r.issuedAt.toISOString(),
        ...(r.contacts !== undefined ? { contacts: [...r.contacts] } : {}),
        ...(r.softwareId !== undefined ? { softwareId: r.softwareId } : {}),
        ...(r.softwareVersion !== undefined ? { softwareVersion: r.softwareVersion } : {}),
        responseTypes: [...r.responseTypes],
      };
      reg = registrationNative ? stored : JSON.stringify(stored);
    }
    set(row, 'registration', reg, r !== undefined);
    // The purge columns, on models that have them (a model without them just has no purge). The
    // first-use mark is written only when the client carries one: an update never clears it.
    set(row, 'registeredAt', r ? r.issuedAt : null, false);
    if (r?.firstUsedAt !== undefined) set(row, 'firstUsedAt', r.firstUsedAt, false);
    for (const [k, v] of Object.entries(c)) if (!known.has(k) && has(k) && v !== undefined) row[k] = v;
    return row;
  };
}

/**
 * A `ClientRegistrationStore` (dynamic client registration, RFC 7591/7592) over the same client
 * model as `createClientStore`, which then finds the clients it writes. `createClient` is one
 * INSERT (the primary key picks the winner of concurrent creates; a duplicate answers `false`),
 * `updateClient` one UPDATE of every column (absent fields become NULL; a first-use mark is
 * kept), `deleteClient` one DELETE, `listClients` one SELECT of a page in code-point id order
 * (whatever the column collation; `limit` a positive integer, at most 1000 per page). With the `registeredAt` and `firstUsedAt` columns (the
 * default table after `migrate()`) it also has `markClientUsed` and `purgeUnusedClients`. The
 * default table has every column after `migrate()`; a model of your own without an optional one
 * takes clients that leave that field out, and throws a TypeError for the others.
 */
export function createClientRegistrationStore<C extends Client = Client>(model: PortcullisModel): ClientRegistrationStore<C> {
  requireAttributes(model, 'createClientRegistrationStore', ['id', 'secretHash', 'redirectUris', 'grantTypes', 'scopes']);
  const toRow = clientWriter(model);
  const idMax = maxLength(model, 'id');
  const attrs = model.getAttributes() as Record<string, unknown>;
  const purgeColumns = 'registration' in attrs && 'registeredAt' in attrs && 'firstUsedAt' in attrs;
  return {
    createClient: (client) =>
      guard(async () => {
        const row = toRow(client);
        try {
          await model.create(row);
          return true;
        } catch (err) {
          if (err instanceof UniqueConstraintError) return false;
          throw err;
        }
      }),
    updateClient: (client) =>
      guard(async () => {
        if (!fits(client.id, idMax)) return false; // no such row can exist
        const { id, ...row } = toRow(client);
        const [changed] = await model.update(row, { where: { id: client.id } });
        if (changed > 0) return true;
        // MariaDB/MySQL count changed rows only: an update to the same values answers 0.
        return (await model.count({ where: { id: client.id } })) > 0;
      }),
    deleteClient: (clientId) =>
      guard(async () => {
        if (!fits(clientId, idMax)) return false;
        return (await model.destroy({ where: { id: clientId } })) > 0;
      }),
    listClients: clientListing<C>(model),
    ...(purgeColumns ? unusedClientPurge(model, idMax) : {}),
  };
}

/** The largest page `listClients` answers; a larger `limit` gives this many. */
const LIST_CLIENTS_MAX = 1000;

/**
 * `listClients`: one SELECT of at most `limit + 1` rows with ids after `after`, in code-point
 * order whatever the column's collation (`COLLATE "C"` on PostgreSQL, a `BINARY` comparison on
 * MariaDB/MySQL, `COLLATE BINARY` on SQLite: UTF-8 bytes, so the order of core's memory store and
 * the other bindings), the extra row telling whether a next page exists.
 */
function clientListing<C extends Client>(model: PortcullisModel): NonNullable<ClientRegistrationStore<C>['listClients']> {
  const sequelize = model.sequelize!;
  const dialect = sequelize.getDialect();
  const attrs = model.getAttributes() as Record<string, { field?: string }>;
  const id = sequelize.getQueryInterface().quoteIdentifier(attrs.id?.field ?? 'id');
  const ordered =
    dialect === 'postgres'
      ? `${id} COLLATE "C"`
      : dialect === 'mariadb' || dialect === 'mysql'
        ? `BINARY ${id}`
        : dialect === 'sqlite'
          ? `${id} COLLATE BINARY`
          : id;
  return (after, limit) =>
    guard(async () => {
      if (after !== null && typeof after !== 'string') throw new TypeError('listClients: after must be a string or null');
      if (!Number.isInteger(limit) || limit < 1) throw new RangeError('listClients: limit must be a positive integer');
      const size = Math.min(limit, LIST_CLIENTS_MAX);
      const rows = await model.findAll({
        ...(after === null ? {} : { where: where(literal(ordered), Op.gt, after) }),
        order: [[literal(ordered), 'ASC']],
        limit: size + 1,
      });
      const found = rows.slice(0, size).map((row) => {
        const r = plain(row);
        return clientFromRow(r, str(r.id)) as unknown as C;
      });
      return { clients: found, next: rows.length > size ? (found.at(-1)?.id ?? null) : null };
    });
}

/**
 * `markClientUsed` (one conditional UPDATE: only a self-registered row whose `firstUsedAt` is
 * NULL) and `purgeUnusedClients` (a SELECT of at most `limit` ids, then one DELETE that repeats
 * the conditions, so a client marked in between stays).
 */
function unusedClientPurge(
  model: PortcullisModel,
  idMax: number,
): Required<Pick<ClientRegistrationStore, 'markClientUsed' | 'purgeUnusedClients'>> {
  return {
    markClientUsed: (clientId, at) =>
      guard(async () => {
        if (!fits(clientId, idMax)) return false;
        const [changed] = await model.update(
          { firstUsedAt: at },
          { where: { id: clientId, registration: { [Op.ne]: null }, firstUsedAt: null } },
        );
        return changed > 0;
      }),
    purgeUnusedClients: (registeredBefore, limit) =>
      guard(async () => {
        if (!Number.isInteger(limit) || limit < 0) throw new RangeError('purgeUnusedClients: limit must be a non-negative integer');
        if (limit === 0) return 0;
        const due = { registration: { [Op.ne]: null }, registeredAt: { [Op.lt]: registeredBefore }, firstUsedAt: null };
        const rows = (await model.findAll({ attributes: ['id'], where: due, order: [['id', 'ASC']], limit, raw: true })) as unknown as {
          id: unknown;
        }[];
        if (rows.length === 0) return 0;
        return model.destroy({ where: { [Op.and]: [due, { id: rows.map((r) => str(r.id)) }] } });
      }),
  };
}

/**
 * The client lookup, written once, for `rawAccess` (see raw.ts): every attribute of the model,
 * when each is text (this binding's JSON text included), a flag or a date, so the row reads the
 * same as through the model. `null` when the model must be used as is.
 */
function directClientLookup(model: PortcullisModel): (RawAccess & { lookup: string }) | null {
  const access = rawAccess(model);
  if (!access) return null;
  const attrs = model.getAttributes() as Record<string, unknown>;
  const kinds: Record<string, ColumnKind> = {};
  for (const name of Object.keys(attrs)) {
    kinds[name] = FLAG_CLIENT_COLUMNS.has(name)
      ? 'flag'
      : JSON_CLIENT_COLUMNS.has(name)
        ? 'json'
        : DATE_CLIENT_COLUMNS.has(name)
          ? 'date'
          : 'text';
  }
  const fields = columnsOf(model, kinds, isJsonTextGetter);
  if (!fields) return null;
  const read = Object.entries(fields)
    .map(([a, f]) => (f === a ? access.column(a) : `${access.column(f)} AS ${access.column(a)}`))
    .join(', ');
  return { ...access, lookup: `SELECT ${read} FROM ${access.table} WHERE ${access.column(fields.id as string)} = ${access.param(1)}` };
}

/**
 * A `UserStore` over a user model (attributes: `id`, `username` (unique), `passwordHash` from
 * `hashPassword()`). The user returned carries every other attribute of the row.
 */
export function createUserStore<U extends User = User>(model: PortcullisModel): UserStore<U> {
  requireAttributes(model, 'createUserStore', ['id', 'username', 'passwordHash']);
  const limits = limitsOf(model, ['username']);
  return {
    getUserByUsername: (username) =>
      guard(async (): Promise<UserCredentials<U> | null> => {
        if (!fits(username, limits.username)) return null;
        const row = await model.findOne({ where: { username } });
        if (!row) return null;
        const { passwordHash, ...user } = plain(row);
        if (str(user.username) !== username || typeof passwordHash !== 'string') return null;
        return { user: { ...user, id: str(user.id) } as unknown as U, passwordHash };
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Grants

/**
 * A `GrantStore` over a grant model keyed by (`codeHash`, `clientId`). Consuming is a conditional
 * `UPDATE ... SET consumedAt WHERE consumedAt IS NULL AND expiresAt > now` whose affected-row
 * count picks the one winner; the row stays as a consumed marker until it expires, so a replay
 * answers `replayed`.
 */
export function createGrantStore(model: PortcullisModel): GrantStore {
  requireAttributes(model, 'createGrantStore', [
    'codeHash',
    'clientId',
    'userId',
    'redirectUri',
    'scopes',
    'expiresAt',
    'grantId',
    'codeChallenge',
    'codeChallengeMethod',
    'consumedAt',
  ]);
  const limits = limitsOf(model, ['clientId', 'userId', 'grantId', 'codeChallenge', 'codeChallengeMethod', 'redirectUri']);
  const writeScopes = arrayWriter(model, 'scopes');
  const writeResources = listWriter(model, 'resources', 'saveGrant');
  const writeJkt = jktWriter(model, 'dpopJkt', 'saveGrant');
  const writeAuthTime = authTimeWriter(model, 'authTime', 'saveGrant');
  const toRecord = (v: Row, code: string): GrantRecord => {
    const resources = toList(v.resources);
    const dpopJkt = toJkt(v.dpopJkt);
    const authTime = toAuthTime(v.authTime);
    return {
      ...grantFields(v, code),
      ...(resources ? { resources } : {}),
      ...(dpopJkt ? { dpopJkt } : {}),
      ...(authTime ? { authTime } : {}),
    };
  };
  const grantFields = (v: Row, code: string): GrantRecord => ({
    code,
    clientId: str(v.clientId),
    userId: str(v.userId),
    // NULL stays null ("redirect_uri not sent"), never the text "null".
    redirectUri: optStr(v.redirectUri),
    scopes: toArray(v.scopes),
    expiresAt: toDate(v.expiresAt),
    grantId: str(v.grantId),
    codeChallenge: optStr(v.codeChallenge),
    codeChallengeMethod: optStr(v.codeChallengeMethod) as GrantRecord['codeChallengeMethod'],
  });
  return {
    detectsReplay: true,
    capabilities: { detectsReplay: true, ttlGranularity: 'ms' },
    saveGrant: (grant) =>
      guard(async () => {
        requireFits(grant.clientId, limits.clientId, 'saveGrant: clientId');
        requireFits(grant.userId, limits.userId, 'saveGrant: userId');
        requireFits(grant.grantId, limits.grantId, 'saveGrant: grantId');
        requireFits(grant.redirectUri, limits.redirectUri, 'saveGrant: redirectUri');
        requireFits(grant.codeChallenge, limits.codeChallenge, 'saveGrant: codeChallenge');
        requireFits(grant.codeChallengeMethod, limits.codeChallengeMethod, 'saveGrant: codeChallengeMethod');
        await model.create({
          codeHash: keyHash(grant.code),
          clientId: grant.clientId,
          userId: grant.userId,
          redirectUri: grant.redirectUri,
          scopes: writeScopes(grant.scopes),
          expiresAt: grant.expiresAt,
          grantId: grant.grantId,
          codeChallenge: grant.codeChallenge,
          codeChallengeMethod: grant.codeChallengeMethod,
          consumedAt: null,
          ...withValue('resources', writeResources(grant.resources)),
          ...withValue('dpopJkt', writeJkt(grant.dpopJkt)),
          ...withValue('authTime', writeAuthTime(grant.authTime)),
        });
      }),
    consumeGrant: (clientId, code) =>
      guard(async (): Promise<Consumed<GrantRecord> | null> => {
        if (!fits(clientId, limits.clientId)) return null;
        const where = { codeHash: keyHash(code), clientId };
        const row = await model.findOne({ where });
        if (!row) return null;
        const v = plain(row);
        const record = toRecord(v, code);
        const now = new Date();
        if (record.clientId !== clientId || record.expiresAt <= now) return null;
        if (v.consumedAt) return { outcome: 'replayed', grantId: record.grantId };
        // The atomic step: of N concurrent callers, exactly one changes the row.
        const [changed] = await model.update({ consumedAt: now }, { where: { ...where, consumedAt: null, expiresAt: { [Op.gt]: now } } });
        if (changed === 1) return { outcome: 'consumed', record };
        const after = await model.findOne({ where });
        return after?.get('consumedAt') ? { outcome: 'replayed', grantId: record.grantId } : null;
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Tokens

type Kind = 'access' | 'refresh';

/**
 * A `TokenStore` over one token model keyed by (`tokenHash`, `kind`), `kind` being `access` or
 * `refresh`. `saveTokens` writes the pair in one multi-row `INSERT` (never half a pair) and
 * leaves the user's other tokens alone. Rotation marks `consumedAt` with a conditional `UPDATE`;
 * revocation marks `revokedAt`. Rows go away with `purgeExpired()`.
 */
export function createTokenStore(model: PortcullisModel): TokenStore {
  requireAttributes(model, 'createTokenStore', [
    'tokenHash',
    'kind',
    'clientId',
    'userId',
    'scopes',
    'expiresAt',
    'grantId',
    'consumedAt',
    'revokedAt',
  ]);
  const limits = limitsOf(model, ['clientId', 'userId', 'grantId']);
  const writeScopes = arrayWriter(model, 'scopes');
  const writeResources = listWriter(model, 'resources', 'saveTokens');
  const writeJkt = jktWriter(model, 'dpopJkt', 'saveTokens');
  // `issuedAt` is informational (a user's "connected apps" view): a model of your own without the
  // attribute stores tokens without it.
  const keepsIssuedAt = 'issuedAt' in (model.getAttributes() as Record<string, unknown>);
  // `authTime` is a refresh token's only (access tokens have none): the access row holds NULL.
  const writeAuthTime = authTimeWriter(model, 'authTime', 'saveTokens');
  const toRow = (kind: Kind, t: AccessTokenRecord | RefreshTokenRecord): Row => {
    requireFits(t.clientId, limits.clientId, `saveTokens: ${kind} clientId`);
    requireFits(t.userId, limits.userId, `saveTokens: ${kind} userId`);
    requireFits(t.grantId, limits.grantId, `saveTokens: ${kind} grantId`);
    return {
      tokenHash: keyHash(t.token),
      kind,
      clientId: t.clientId,
      userId: t.userId,
      scopes: writeScopes(t.scopes),
      expiresAt: t.expiresAt,
      grantId: t.grantId,
      consumedAt: null,
      revokedAt: null,
      // One column for both kinds: an access token's audience, a refresh token's resources.
      ...withValue(
        'resources',
        writeResources(kind === 'access' ? (t as AccessTokenRecord).audience : (t as RefreshTokenRecord).resources),
      ),
      ...withValue('dpopJkt', writeJkt(t.dpopJkt)),
      ...withValue('issuedAt', keepsIssuedAt ? (t.issuedAt ?? null) : undefined),
      ...withValue('authTime', writeAuthTime(kind === 'refresh' ? (t as RefreshTokenRecord).authTime : undefined)),
    };
  };
  const toRecord = (kind: Kind, v: Row, token: string): AccessTokenRecord & RefreshTokenRecord => {
    const record = {
      token,
      clientId: str(v.clientId),
      userId: optStr(v.userId),
      scopes: toArray(v.scopes),
      expiresAt: toDate(v.expiresAt),
      grantId: str(v.grantId),
    };
    const dpopJkt = toJkt(v.dpopJkt);
    const issued = v.issuedAt === null || v.issuedAt === undefined ? record : { ...record, issuedAt: toDate(v.issuedAt) };
    const bound = dpopJkt ? { ...issued, dpopJkt } : issued;
    const authTime = kind === 'refresh' ? toAuthTime(v.authTime) : undefined;
    const timed = authTime ? { ...bound, authTime } : bound;
    const list = toList(v.resources);
    if (!list) return timed;
    return kind === 'access' ? { ...timed, audience: list } : { ...timed, resources: list };
  };
  const whereKey = (kind: Kind, token: string) => ({ tokenHash: keyHash(token), kind });
  // Lookups read only the columns a record needs, as plain rows without model instances (the
  // hot path of every resource check), unless a model defines its own getter for one of them:
  // then the row goes through the model as usual. This binding's JSON accessors need no getter
  // here, since `toArray` reads JSON text itself.
  const attrs = model.getAttributes() as Record<string, { get?: unknown } | undefined>;
  const readColumns = [
    'clientId',
    'userId',
    'scopes',
    'expiresAt',
    'grantId',
    'consumedAt',
    'revokedAt',
    ...('resources' in attrs ? ['resources'] : []),
    ...('dpopJkt' in attrs ? ['dpopJkt'] : []),
    ...(keepsIssuedAt ? ['issuedAt'] : []),
    ...('authTime' in attrs ? ['authTime'] : []),
  ];
  const raw = readColumns.every((c) => typeof attrs[c]?.get !== 'function' || isJsonTextGetter(attrs[c]?.get));
  const direct = directTokenStatements(model);
  /** The live record (not expired, revoked or consumed) or `null`. */
  const get = async (kind: Kind, token: string): Promise<AccessTokenRecord | null> => {
    let v: Row;
    if (direct) {
      const found = (await direct.select(direct.lookup, [keyHash(token), kind]))[0];
      if (!found) return null;
      v = found;
    } else if (raw) {
      const found = (await model.findOne({ where: whereKey(kind, token), attributes: readColumns, raw: true })) as Row | null;
      if (!found) return null;
      v = found;
    } else {
      const row = await model.findOne({ where: whereKey(kind, token) });
      if (!row) return null;
      v = plain(row);
    }
    const record = toRecord(kind, v, token);
    return v.revokedAt || v.consumedAt || record.expiresAt.getTime() <= Date.now() ? null : record;
  };
  return {
    detectsReplay: true,
    capabilities: { detectsReplay: true, ttlGranularity: 'ms' },
    saveTokens: (access, refresh) =>
      guard(async () => {
        const rows = [toRow('access', access)];
        if (refresh) rows.push(toRow('refresh', refresh));
        if (direct?.insert) {
          const values: unknown[] = [];
          const json = (value: unknown) =>
            value === null || value === undefined || typeof value === 'string' ? (value ?? null) : JSON.stringify(value);
          for (const r of rows) {
            values.push(r.tokenHash, r.kind, r.clientId, r.userId, json(r.scopes), direct.date(r.expiresAt as Date), r.grantId);
            if (direct.insertsResources) values.push(json(r.resources));
            if (direct.insertsJkt) values.push(r.dpopJkt ?? null);
            if (direct.insertsIssuedAt) values.push(r.issuedAt instanceof Date ? direct.date(r.issuedAt) : null);
            if (direct.insertsAuthTime) values.push(r.authTime instanceof Date ? direct.date(r.authTime) : null);
          }
          await direct.write(direct.insert[rows.length - 1] as string, values);
          return;
        }
        await model.bulkCreate(rows);
      }),
    getAccessToken: (token) => guard(() => get('access', token)),
    getRefreshToken: (token) => guard(() => get('refresh', token)),
    consumeRefreshToken: (token) =>
      guard(async (): Promise<Consumed<RefreshTokenRecord> | null> => {
        const where = whereKey('refresh', token);
        if (direct) {
          const v = (await direct.select(direct.lookup, [where.tokenHash, 'refresh']))[0];
          if (!v) return null;
          const record = toRecord('refresh', v, token);
          const now = new Date();
          if (v.revokedAt || record.expiresAt <= now) return null;
          if (v.consumedAt) return { outcome: 'replayed', grantId: record.grantId };
          // The atomic step: of N concurrent callers, exactly one changes the row.
          const stamp = direct.date(now);
          const changed = await direct.write(direct.consume, [stamp, where.tokenHash, 'refresh', stamp]);
          if (changed === 1) return { outcome: 'consumed', record };
          const after = (await direct.select(direct.lookup, [where.tokenHash, 'refresh']))[0];
          return after?.consumedAt && !after.revokedAt ? { outcome: 'replayed', grantId: record.grantId } : null;
        }
        const row = await model.findOne({ where });
        if (!row) return null;
        const v = plain(row);
        const record = toRecord('refresh', v, token);
        const now = new Date();
        if (v.revokedAt || record.expiresAt <= now) return null;
        if (v.consumedAt) return { outcome: 'replayed', grantId: record.grantId };
        const [changed] = await model.update(
          { consumedAt: now },
          { where: { ...where, consumedAt: null, revokedAt: null, expiresAt: { [Op.gt]: now } } },
        );
        if (changed === 1) return { outcome: 'consumed', record };
        const after = await model.findOne({ where });
        return after?.get('consumedAt') && !after.get('revokedAt') ? { outcome: 'replayed', grantId: record.grantId } : null;
      }),
    revokeAccessToken: (token) =>
      guard(async () => {
        await model.update({ revokedAt: new Date() }, { where: { ...whereKey('access', token), revokedAt: null } });
      }),
    revokeFamily: (grantId) =>
      guard(async () => {
        if (!fits(grantId, limits.grantId)) return;
        await model.update({ revokedAt: new Date() }, { where: { grantId, revokedAt: null } });
      }),
  };
}

const TOKEN_COLUMNS: Record<string, ColumnKind> = {
  tokenHash: 'text',
  kind: 'text',
  clientId: 'text',
  userId: 'text',
  scopes: 'json',
  expiresAt: 'date',
  grantId: 'text',
  consumedAt: 'date',
  revokedAt: 'date',
  resources: 'json',
  dpopJkt: 'text',
  issuedAt: 'date',
  authTime: 'date',
};

/**
 * The token store's statements, written once, for `rawAccess` (see raw.ts): the lookup by key,
 * the conditional consume, and the one- and two-row inserts (only when the model has no other
 * attributes, so an insert leaves nothing of Sequelize's out). `null` when the model must be
 * used as is.
 */
function directTokenStatements(model: PortcullisModel):
  | (RawAccess & {
      lookup: string;
      consume: string;
      insert: string[] | null;
      insertsResources: boolean;
      insertsJkt: boolean;
      insertsIssuedAt: boolean;
      insertsAuthTime: boolean;
    })
  | null {
  const access = rawAccess(model, 'expiresAt');
  // `resources`, `dpopJkt`, `issuedAt` and `authTime` may be missing from a model of your own (a
  // table made before they existed).
  const optional = ['resources', 'dpopJkt', 'issuedAt', 'authTime'];
  const fields = access && columnsOf(model, TOKEN_COLUMNS, isJsonTextGetter, { optional });
  if (!access || !fields) return null;
  const c = (attribute: string) => access.column(fields[attribute] as string);
  const p = access.param;
  const hasResources = 'resources' in fields;
  const hasJkt = 'dpopJkt' in fields;
  const hasIssuedAt = 'issuedAt' in fields;
  const hasAuthTime = 'authTime' in fields;
  // The order `saveTokens` binds the optional values in.
  const optionalColumns = [
    ...(hasResources ? ['resources'] : []),
    ...(hasJkt ? ['dpopJkt'] : []),
    ...(hasIssuedAt ? ['issuedAt'] : []),
    ...(hasAuthTime ? ['authTime'] : []),
  ];
  const read = ['clientId', 'userId', 'scopes', 'expiresAt', 'grantId', 'consumedAt', 'revokedAt', ...optionalColumns]
    .map((a) => (fields[a] === a ? c(a) : `${c(a)} AS ${access.column(a)}`))
    .join(', ');
  const lookup = `SELECT ${read} FROM ${access.table} WHERE ${c('tokenHash')} = ${p(1)} AND ${c('kind')} = ${p(2)}`;
  const consume =
    `UPDATE ${access.table} SET ${c('consumedAt')} = ${p(1)} WHERE ${c('tokenHash')} = ${p(2)} AND ${c('kind')} = ${p(3)}` +
    ` AND ${c('consumedAt')} IS NULL AND ${c('revokedAt')} IS NULL AND ${c('expiresAt')} > ${p(4)}`;
  let insert: string[] | null = null;
  if (columnsOf(model, TOKEN_COLUMNS, isJsonTextGetter, { exact: true, optional })) {
    // The bound values of a row, in this order, then NULL for `consumedAt` and `revokedAt`.
    const bound = ['tokenHash', 'kind', 'clientId', 'userId', 'scopes', 'expiresAt', 'grantId', ...optionalColumns];
    const names = [...bound, 'consumedAt', 'revokedAt'].map(c).join(', ');
    const row = (first: number) => `(${bound.map((_, i) => p(first + i)).join(', ')}, NULL, NULL)`;
    insert = [
      `INSERT INTO ${access.table} (${names}) VALUES ${row(1)}`,
      `INSERT INTO ${access.table} (${names}) VALUES ${row(1)}, ${row(1 + bound.length)}`,
    ];
  }
  return {
    ...access,
    lookup,
    consume,
    insert,
    insertsResources: hasResources,
    insertsJkt: hasJkt,
    insertsIssuedAt: hasIssuedAt,
    insertsAuthTime: hasAuthTime,
  };
}

// ---------------------------------------------------------------------------------------------
// Signing keys

/**
 * A `KeyStore` (signing keys of JWT access tokens) over a key model (attributes: `kid` (primary
 * key), `alg`, `publicJwk` (JSON text, or a JSON column of your own), `privateKey` (text: the
 * compact JWE core encrypted), `createdAt`, `activatesAt`, `retiresAt` (nullable)). `addKey` is a
 * plain INSERT: the primary key refuses an existing `kid`, which is left as it was.
 */
export function createKeyStore(model: PortcullisModel): KeyStore {
  requireAttributes(model, 'createKeyStore', ['kid', 'alg', 'publicJwk', 'privateKey', 'createdAt', 'activatesAt', 'retiresAt']);
  const limits = limitsOf(model, ['kid', 'alg']);
  const column = model.getAttributes()['publicJwk' as never] as { type?: { key?: string }; set?: unknown } | undefined;
  const nativeJson = column?.type?.key === 'JSON' || column?.type?.key === 'JSONB' || typeof column?.set === 'function';
  const toRecord = (row: Row): SigningKeyRecord => {
    const jwk: unknown = typeof row.publicJwk === 'string' ? JSON.parse(row.publicJwk) : row.publicJwk;
    return {
      kid: str(row.kid),
      alg: str(row.alg) as SigningAlgorithm,
      // A fresh object per call (a JSON column's value is copied too): callers cannot change the row.
      publicJwk: structuredClone(jwk) as Record<string, unknown>,
      privateKey: str(row.privateKey),
      createdAt: toDate(row.createdAt),
      activatesAt: toDate(row.activatesAt),
      retiresAt: row.retiresAt === null || row.retiresAt === undefined ? null : toDate(row.retiresAt),
    };
  };
  return {
    listKeys: () => guard(async () => (await model.findAll()).map((row) => toRecord(plain(row)))),
    addKey: (key) =>
      guard(async () => {
        requireFits(key.kid, limits.kid, 'kid');
        requireFits(key.alg, limits.alg, 'alg');
        try {
          await model.create({
            kid: key.kid,
            alg: key.alg,
            publicJwk: nativeJson ? structuredClone(key.publicJwk) : JSON.stringify(key.publicJwk),
            privateKey: key.privateKey,
            createdAt: new Date(key.createdAt.getTime()),
            activatesAt: new Date(key.activatesAt.getTime()),
            retiresAt: key.retiresAt === null ? null : new Date(key.retiresAt.getTime()),
          });
        } catch (err) {
          if (err instanceof UniqueConstraintError) return; // the kid exists: keep it
          throw err;
        }
      }),
    retireKey: (kid, retiresAt) =>
      guard(async () => {
        if (!fits(kid, limits.kid)) return;
        await model.update({ retiresAt: new Date(retiresAt.getTime()) }, { where: { kid } });
      }),
    removeRetiredKeys: (before) => guard(() => model.destroy({ where: { retiresAt: { [Op.ne]: null, [Op.lt]: before } } })),
  };
}

// ---------------------------------------------------------------------------------------------
// Device authorization requests (RFC 8628)

/** Attempts of a poll's compare-and-set before giving up (each failed one means another caller changed the row). */
const POLL_ATTEMPTS = 200;

/**
 * A `DeviceCodeStore` over a device model (attributes: `deviceCode` (primary key: core's digest of
 * the device code), `userCode`, `activeUserCode` (nullable, unique), `clientId`, `scopes`,
 * `expiresAt`, `interval`, `lastPolledAt` (nullable), `status`, `userId` (nullable), `grantId`,
 * `version` (integer), and the optional `authTime` (nullable date: an approval's, kept from the
 * decision on; a model of your own without it keeps approvals without it)). Every change is one
 * conditional `UPDATE` whose affected-row count picks
 * the winner: a decision needs `status = 'pending'`, a consume `status = 'approved'` (both with
 * `expiresAt > now`), and a poll the `version` it read (it re-reads and tries again when another
 * caller changed the row in between, at most 200 times). Every change adds 1 to `version`.
 */
export function createDeviceCodeStore(model: PortcullisModel): DeviceCodeStore {
  requireAttributes(model, 'createDeviceCodeStore', [
    'deviceCode',
    'userCode',
    'activeUserCode',
    'clientId',
    'scopes',
    'expiresAt',
    'interval',
    'lastPolledAt',
    'status',
    'userId',
    'grantId',
    'version',
  ]);
  const limits = limitsOf(model, ['deviceCode', 'userCode', 'clientId', 'userId', 'grantId']);
  const writeScopes = arrayWriter(model, 'scopes');
  const qi = model.sequelize!.getQueryInterface();
  const versionField = (model.getAttributes() as Record<string, { field?: string }>).version?.field ?? 'version';
  const bump = () => model.sequelize!.literal(`${qi.quoteIdentifier(versionField)} + 1`);
  const writeAuthTime = authTimeWriter(model, 'authTime', 'decideDeviceCode');
  const writeSavedAuthTime = authTimeWriter(model, 'authTime', 'saveDeviceCode');
  const toRecord = (v: Row): DeviceCodeRecord => {
    const authTime = toAuthTime(v.authTime);
    return authTime ? { ...deviceFields(v), authTime } : deviceFields(v);
  };
  const deviceFields = (v: Row): DeviceCodeRecord => ({
    deviceCode: str(v.deviceCode),
    userCode: str(v.userCode),
    clientId: str(v.clientId),
    scopes: toArray(v.scopes),
    expiresAt: toDate(v.expiresAt),
    interval: Number(v.interval),
    lastPolledAt: v.lastPolledAt === null || v.lastPolledAt === undefined ? null : toDate(v.lastPolledAt),
    status: str(v.status) as DeviceCodeStatus,
    userId: optStr(v.userId),
    grantId: str(v.grantId),
  });
  /** The row of this device code and client, whatever its state; `null` when there is none. */
  const byDevice = async (clientId: string, deviceCode: string): Promise<Row | null> => {
    if (!fits(clientId, limits.clientId) || !fits(deviceCode, limits.deviceCode)) return null;
    const row = await model.findOne({ where: { deviceCode, clientId } });
    if (!row) return null;
    const v = plain(row);
    // Exact match whatever the column collation.
    return str(v.deviceCode) === deviceCode && str(v.clientId) === clientId ? v : null;
  };
  /** The live row holding this user code, or `null`. */
  const byUserCode = async (userCode: string): Promise<Row | null> => {
    if (!fits(userCode, limits.userCode)) return null;
    const row = await model.findOne({ where: { activeUserCode: userCode, expiresAt: { [Op.gt]: new Date() } } });
    if (!row) return null;
    const v = plain(row);
    return str(v.userCode) === userCode ? v : null;
  };
  return {
    saveDeviceCode: (record) =>
      guard(async () => {
        requireFits(record.deviceCode, limits.deviceCode, 'saveDeviceCode: deviceCode');
        requireFits(record.userCode, limits.userCode, 'saveDeviceCode: userCode');
        requireFits(record.clientId, limits.clientId, 'saveDeviceCode: clientId');
        requireFits(record.userId, limits.userId, 'saveDeviceCode: userId');
        requireFits(record.grantId, limits.grantId, 'saveDeviceCode: grantId');
        // An expired request gives its user code up (it keeps `userCode`, so its polls still say expired).
        await model.update(
          { activeUserCode: null, version: bump() },
          { where: { activeUserCode: record.userCode, expiresAt: { [Op.lte]: new Date() } } },
        );
        try {
          await model.create({
            deviceCode: record.deviceCode,
            userCode: record.userCode,
            activeUserCode: record.userCode,
            clientId: record.clientId,
            scopes: writeScopes(record.scopes),
            expiresAt: new Date(record.expiresAt.getTime()),
            interval: record.interval,
            lastPolledAt: record.lastPolledAt === null ? null : new Date(record.lastPolledAt.getTime()),
            status: record.status,
            userId: record.userId,
            grantId: record.grantId,
            version: 0,
            ...withValue('authTime', writeSavedAuthTime(record.authTime)),
          });
        } catch (err) {
          // A live request holds this user code (the unique index refused the row).
          if (err instanceof UniqueConstraintError && (await byUserCode(record.userCode)) !== null) return false;
          throw err;
        }
        return true;
      }),
    findDeviceCode: (userCode) =>
      guard(async () => {
        const v = await byUserCode(userCode);
        return v ? toRecord(v) : null;
      }),
    recordPoll: (clientId, deviceCode, polledAt) =>
      guard(async () => {
        for (let attempt = 0; attempt < POLL_ATTEMPTS; attempt++) {
          const v = await byDevice(clientId, deviceCode);
          if (!v) return null;
          const before = toRecord(v);
          const last = before.lastPolledAt;
          const tooSoon = last !== null && polledAt.getTime() - last.getTime() < before.interval * 1000;
          const [changed] = await model.update(
            { lastPolledAt: new Date(polledAt.getTime()), interval: tooSoon ? before.interval + 5 : before.interval, version: bump() },
            { where: { deviceCode, clientId, version: Number(v.version) } },
          );
          if (changed === 1) return before;
        }
        throw new Error(`recordPoll: the device request changed under ${POLL_ATTEMPTS} attempts in a row`);
      }),
    decideDeviceCode: (userCode, decision) =>
      guard(async () => {
        const v = await byUserCode(userCode);
        if (!v || v.status !== 'pending') return null;
        if (decision.userId !== null) requireFits(decision.userId, limits.userId, 'decideDeviceCode: userId');
        // An approval's authTime is kept from now on; a denial (or an approval without it) leaves NULL.
        const authTime = writeAuthTime(decision.approved ? decision.authTime : undefined);
        const change: Row = decision.approved
          ? { status: 'approved', userId: decision.userId, scopes: writeScopes(decision.scopes) }
          : { status: 'denied', userId: decision.userId };
        const [changed] = await model.update(
          { ...change, ...withValue('authTime', authTime), version: bump() },
          { where: { deviceCode: str(v.deviceCode), status: 'pending', expiresAt: { [Op.gt]: new Date() } } },
        );
        if (changed !== 1) return null;
        // The record as the row now holds it (an authTime the model cannot keep is left out).
        const { authTime: _, ...before } = toRecord(v);
        const kept = authTime ? { authTime: new Date(authTime.getTime()) } : {};
        return decision.approved
          ? { ...before, status: 'approved', userId: decision.userId, scopes: [...decision.scopes], ...kept }
          : { ...before, status: 'denied', userId: decision.userId };
      }),
    consumeDeviceCode: (clientId, deviceCode) =>
      guard(async () => {
        const v = await byDevice(clientId, deviceCode);
        if (!v || v.status !== 'approved') return null;
        const record = toRecord(v);
        const now = new Date();
        if (record.expiresAt <= now) return null;
        // The atomic step: of N concurrent callers, exactly one changes the row.
        const [changed] = await model.update(
          { status: 'consumed', version: bump() },
          { where: { deviceCode, clientId, status: 'approved', expiresAt: { [Op.gt]: now } } },
        );
        return changed === 1 ? record : null;
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Per-user grant views

/**
 * Core's `UserGrantStore` over the token and grant models (a user's "connected apps"):
 * `listUserGrants` reads the user's live token rows (unrevoked, unexpired, refresh tokens also
 * unconsumed) through the `(userId, clientId)` index and sums them up per client;
 * `revokeUserGrants` stamps `revokedAt` on every unrevoked token row of the user (for one client
 * or all) and deletes the user's unredeemed, unexpired codes, in one transaction when both models
 * share a Sequelize instance. It counts the families that had a live token and the codes deleted.
 * `revokeClientGrants` (a client deleted through RFC 7592) does the same for every token row and
 * code of one client, whatever the user (or none); no index has `clientId` first, so it scans the
 * token table (deletions are rare). A token model without `issuedAt` lists `null` dates.
 */
export function createUserGrantStore(token: PortcullisModel, grant: PortcullisModel): UserGrantStore {
  const attributes = ['kind', 'clientId', 'userId', 'scopes', 'expiresAt', 'grantId', 'consumedAt', 'revokedAt'];
  requireAttributes(token, 'createUserGrantStore', attributes);
  requireAttributes(grant, 'createUserGrantStore', ['clientId', 'userId', 'expiresAt', 'consumedAt']);
  const keepsIssuedAt = 'issuedAt' in (token.getAttributes() as Record<string, unknown>);
  const tokenLimits = limitsOf(token, ['clientId', 'userId']);
  const grantLimits = limitsOf(grant, ['clientId', 'userId']);
  /** The live token rows of `userId` (for `clientId` when given). */
  const liveRows = (userId: string, clientId: string | null, now: Date, columns: string[], transaction?: Transaction) =>
    token.findAll({
      attributes: columns,
      where: {
        userId,
        ...(clientId === null ? {} : { clientId }),
        revokedAt: null,
        expiresAt: { [Op.gt]: now },
        [Op.or]: [{ kind: 'access' }, { consumedAt: null }],
      } as WhereOptions,
      raw: true,
      ...(transaction ? { transaction } : {}),
    }) as unknown as Promise<Row[]>;
  const sequelize = token.sequelize && token.sequelize === grant.sequelize ? token.sequelize : null;
  return {
    listUserGrants: (userId) =>
      guard(async () => {
        if (!fits(userId, tokenLimits.userId)) return [];
        const rows = await liveRows(userId, null, new Date(), ['clientId', 'scopes', 'grantId', ...(keepsIssuedAt ? ['issuedAt'] : [])]);
        const by = new Map<string, { scopes: Set<string>; families: Set<string>; first: number | null; last: number | null }>();
        for (const v of rows) {
          const clientId = str(v.clientId);
          let s = by.get(clientId);
          if (!s) {
            s = { scopes: new Set(), families: new Set(), first: null, last: null };
            by.set(clientId, s);
          }
          for (const scope of toArray(v.scopes)) s.scopes.add(scope);
          s.families.add(str(v.grantId));
          if (v.issuedAt !== null && v.issuedAt !== undefined) {
            const at = toDate(v.issuedAt).getTime();
            s.first = s.first === null ? at : Math.min(s.first, at);
            s.last = s.last === null ? at : Math.max(s.last, at);
          }
        }
        return [...by]
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(
            ([clientId, s]): UserGrantSummary => ({
              clientId,
              scopes: [...s.scopes],
              firstIssuedAt: s.first === null ? null : new Date(s.first),
              lastIssuedAt: s.last === null ? null : new Date(s.last),
              grants: s.families.size,
            }),
          );
      }),
    revokeUserGrants: (userId, clientId) =>
      guard(async () => {
        const run = async (transaction?: Transaction): Promise<number> => {
          const now = new Date();
          const t = transaction ? { transaction } : {};
          let families = 0;
          if (fits(userId, tokenLimits.userId) && (clientId === null || fits(clientId, tokenLimits.clientId))) {
            const live = await liveRows(userId, clientId, now, ['grantId'], transaction);
            families = new Set(live.map((r) => str(r.grantId))).size;
            const scope = clientId === null ? { userId } : { userId, clientId };
            await token.update({ revokedAt: now }, { where: { ...scope, revokedAt: null }, ...t });
          }
          let codes = 0;
          if (fits(userId, grantLimits.userId) && (clientId === null || fits(clientId, grantLimits.clientId))) {
            const scope = clientId === null ? { userId } : { userId, clientId };
            codes = await grant.destroy({ where: { ...scope, consumedAt: null, expiresAt: { [Op.gt]: now } }, ...t });
          }
          return families + codes;
        };
        return sequelize ? sequelize.transaction((transaction) => run(transaction)) : run();
      }),
    revokeClientGrants: (clientId) =>
      guard(async () => {
        const run = async (transaction?: Transaction): Promise<number> => {
          const now = new Date();
          const t = transaction ? { transaction } : {};
          let families = 0;
          if (fits(clientId, tokenLimits.clientId)) {
            const live = (await token.findAll({
              attributes: ['grantId'],
              where: {
                clientId,
                revokedAt: null,
                expiresAt: { [Op.gt]: now },
                [Op.or]: [{ kind: 'access' }, { consumedAt: null }],
              } as WhereOptions,
              raw: true,
              ...t,
            })) as unknown as Row[];
            families = new Set(live.map((r) => str(r.grantId))).size;
            await token.update({ revokedAt: now }, { where: { clientId, revokedAt: null }, ...t });
          }
          let codes = 0;
          if (fits(clientId, grantLimits.clientId)) {
            codes = await grant.destroy({ where: { clientId, consumedAt: null, expiresAt: { [Op.gt]: now } }, ...t });
          }
          return families + codes;
        };
        return sequelize ? sequelize.transaction((transaction) => run(transaction)) : run();
      }),
  };
}

/** The models `createSequelizeStores` and `bindSequelize` take; each one left out gives no store. */
export type SequelizeModelsOption = Partial<PortcullisModels>;

/**
 * The stores for the models given (`userGrants` when both `grant` and `token` are), without registering them: pass them to
 * `provider.useStores(...)` yourself, or mix them with others.
 */
export function createSequelizeStores<U extends User = User, C extends Client = Client>(
  models: SequelizeModelsOption,
): ProviderStores<U, C> {
  const stores: ProviderStores<U, C> = {};
  if (models.client) {
    stores.clients = createClientStore<C>(models.client);
    stores.registrations = createClientRegistrationStore<C>(models.client);
  }
  if (models.user) stores.users = createUserStore<U>(models.user);
  if (models.grant) stores.grants = createGrantStore(models.grant);
  if (models.token) stores.tokens = createTokenStore(models.token);
  if (models.token && models.grant) stores.userGrants = createUserGrantStore(models.token, models.grant);
  if (models.key) stores.keys = createKeyStore(models.key);
  if (models.device) stores.devices = createDeviceCodeStore(models.device);
  if (models.ephemeral) stores.ephemeral = createEphemeralStore(models.ephemeral);
  return stores;
}

export { guard as guardStoreCall };
