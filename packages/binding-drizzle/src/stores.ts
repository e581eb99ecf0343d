import { createHash } from 'node:crypto';
import type {
  AccessTokenRecord,
  Client,
  ClientRegistrationStore,
  ClientStore,
  Consumed,
  GrantRecord,
  GrantStore,
  RefreshTokenRecord,
  StoreCapabilities,
  TokenStore,
  User,
  UserCredentials,
  UserGrantStore,
  UserGrantSummary,
  UserStore,
} from '@portcullis/core';
import { type Column, getTableColumns, type SQL, sql, type Table } from 'drizzle-orm';
import { type Driver, guard, type Row } from './driver.js';
import type { ClientColumns, GrantColumns, TableWith, TokenColumns, UserColumns } from './tables.js';

/**
 * The key a row is stored under in place of a code or token: SHA-256 hex of its UTF-8 bytes.
 * Fixed length, so empty and 8 KiB keys fit the same `CHAR(64)` column, and the value the store
 * was handed is never at rest.
 */
export function keyHash(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Both stores keep a consumed marker until the record expires; times are kept to the millisecond. */
const CAPABILITIES: StoreCapabilities = { detectsReplay: true, ttlGranularity: 'ms' };

/** Longest id the default MySQL tables hold (VARCHAR(255)); longer ones are never stored. */
export const MAX_ID = 255;

// ---------------------------------------------------------------------------------------------
// SQL helpers

/** The column's own (unqualified) name: every statement here works on one table. */
export const name = (column: Column) => sql.identifier(column.name);

/** `col AS "key", ...` for the given keys of a table. */
export function selectList(table: Table, keys: readonly string[]): SQL {
  const columns = table as unknown as Record<string, Column>;
  return sql.join(
    keys.map((key) => sql`${name(columns[key] as Column)} AS ${sql.identifier(key)}`),
    sql`, `,
  );
}

/** `("a", "b") VALUES (?, ?), (?, ?)` for rows keyed by the table's keys. */
export function insertValues(table: Table, rows: readonly Record<string, unknown>[]): SQL {
  const columns = table as unknown as Record<string, Column>;
  const keys = Object.keys(rows[0] as Record<string, unknown>);
  const head = sql.join(
    keys.map((key) => name(columns[key] as Column)),
    sql`, `,
  );
  const values = rows.map(
    (row) =>
      sql`(${sql.join(
        keys.map((key) => sql`${row[key]}`),
        sql`, `,
      )})`,
  );
  return sql`(${head}) VALUES ${sql.join(values, sql`, `)}`;
}

/**
 * `true` when a looked-up string can be in a column at all: no NUL (PostgreSQL text cannot hold
 * it) and, for ids, at most 255 characters. Anything else is simply not found.
 */
export function fits(value: string, max = Number.POSITIVE_INFINITY): boolean {
  if (value.includes('\u0000')) return false;
  if (value.length <= max) return true;
  let n = 0;
  for (const _ of value) if (++n > max) return false;
  return true;
}

/** Throws a clear error (naming the field, never the value) when a value cannot be stored. */
export function requireFits(value: string | null | undefined, what: string, max = MAX_ID): void {
  if (value !== null && value !== undefined && !fits(value, max)) {
    throw new RangeError(`${what} is longer than ${max} characters or contains a NUL character`);
  }
}

export const str = (value: unknown): string => String(value);
export const optStr = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));
const flag = (value: unknown): boolean => value === true || value === 1 || value === '1' || value === 't' || value === 'true';

export function toArray(value: unknown): string[] {
  const parsed: unknown = typeof value === 'string' ? JSON.parse(value) : value;
  return Array.isArray(parsed) ? parsed.map(String) : [];
}

/** A nullable list column: `undefined` for NULL (the record had none), the list otherwise. */
function optArray(value: unknown): string[] | undefined {
  return value === null || value === undefined ? undefined : toArray(value);
}

const listText = (value: readonly string[] | undefined): string | null => (value === undefined ? null : JSON.stringify(value));

/**
 * A time from any driver: a `Date` (node-postgres, mysql2), milliseconds (SQLite), or text such
 * as `2026-01-02 03:04:05.678+00` (PostgreSQL through Drizzle's raw path).
 */
export function toDate(value: unknown): Date {
  if (value instanceof Date) return new Date(value.getTime());
  if (typeof value === 'number' || typeof value === 'bigint') return new Date(Number(value));
  const text = String(value);
  if (/^\d+$/.test(text)) return new Date(Number(text));
  const m = /^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d(?:\.\d+)?)(Z|[+-]\d\d(?::?\d\d)?)?$/.exec(text);
  if (!m) return new Date(text);
  let zone = m[3] ?? 'Z';
  if (/^[+-]\d\d$/.test(zone)) zone += ':00';
  else if (/^[+-]\d{4}$/.test(zone)) zone = `${zone.slice(0, 3)}:${zone.slice(3)}`;
  return new Date(`${m[1]}T${m[2]}${zone}`);
}

/**
 * The DPoP key thumbprint (RFC 9449) a record is bound to, or `null`. Read structurally: the field
 * is optional in the contract, and a store that dropped it would turn a bound token into a bearer one.
 */
function dpopOf(record: object): string | null {
  const jkt = (record as { dpopJkt?: unknown }).dpopJkt;
  if (jkt === undefined || jkt === null) return null;
  requireFits(String(jkt), 'dpopJkt');
  return String(jkt);
}

/** The record with each optional field that has a value; fields without one stay absent (not `undefined`). */
function withOptional<T extends object>(record: T, optional: Record<string, unknown>): T {
  const out: Record<string, unknown> = { ...(record as Record<string, unknown>) };
  for (const [key, value] of Object.entries(optional)) if (value !== undefined) out[key] = value;
  return out as T;
}

export const isSet = (value: unknown): boolean => value !== null && value !== undefined;

/**
 * Whether a table has the column of `key`: the default tables have every one; a table of your own
 * may leave out the optional ones (`issuedAt`, `authTime`), whose fields are then not stored.
 */
export function hasColumn(table: Table, key: string): boolean {
  return (table as unknown as Record<string, unknown>)[key] !== undefined;
}

/**
 * When the user authenticated (RFC 9068 `auth_time`) as the dialect's time columns take it, or
 * `null` when the record has none. Read structurally: the field is optional in the contract.
 */
export function authTimeOf(driver: Driver, record: object): unknown {
  const at = (record as { authTime?: unknown }).authTime;
  return at instanceof Date ? driver.time(at) : null;
}

/** A nullable time column: `undefined` for NULL (the record had none), a `Date` otherwise. */
export function optDate(value: unknown): Date | undefined {
  return isSet(value) ? toDate(value) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Clients and users

/**
 * A `ClientStore` over a client table (keys: `ClientColumns`). Other columns of the table come
 * back on the client under their keys. `defaultScopes`, `tokenEndpointAuthMethod` and `resources`
 * are left out when NULL; `resourceServer` comes back `true` only when the column holds true.
 */
export function createClientStore<C extends Client = Client>(driver: Driver, table: TableWith<ClientColumns>): ClientStore<C> {
  const read = clientRows(table);
  const lookup = (clientId: string) => sql`SELECT ${read.list} FROM ${table} WHERE ${name(table.id)} = ${clientId}`;
  return {
    getClient: (clientId) =>
      guard(async () => {
        if (!fits(clientId, MAX_ID)) return null;
        const row = (await driver.rows(lookup(clientId)))[0];
        // Exact match whatever the column's collation (MySQL's default ignores case).
        if (!row || str(row.id) !== clientId) return null;
        return read.client<C>(row, clientId);
      }),
  };
}

/** The select list of a client row and the reading of one as core's `Client` (its id as given). */
function clientRows(table: TableWith<ClientColumns>): { list: SQL; client<C extends Client>(row: Row, id: string): C } {
  const columns = getTableColumns(table) as Record<string, Column>;
  const keys = Object.keys(columns);
  const own = new Set<string>([
    'id',
    'secretHash',
    'redirectUris',
    'grantTypes',
    'scopes',
    'defaultScopes',
    'tokenEndpointAuthMethod',
    'resourceServer',
    'resources',
    ...REGISTRATION_KEYS,
  ]);
  return {
    list: selectList(table, keys),
    client<C extends Client>(row: Row, id: string): C {
      const client: Record<string, unknown> = {};
      for (const key of keys) {
        if (own.has(key)) continue;
        const value = row[key];
        client[key] = isSet(value) ? (columns[key] as Column).mapFromDriverValue(value) : value;
      }
      Object.assign(client, {
        id,
        secretHash: optStr(row.secretHash),
        redirectUris: toArray(row.redirectUris),
        grantTypes: toArray(row.grantTypes),
        scopes: toArray(row.scopes),
      });
      if (isSet(row.defaultScopes)) client.defaultScopes = toArray(row.defaultScopes);
      if (isSet(row.tokenEndpointAuthMethod)) client.tokenEndpointAuthMethod = str(row.tokenEndpointAuthMethod);
      if (flag(row.resourceServer)) client.resourceServer = true;
      if (isSet(row.resources)) client.resources = toArray(row.resources);
      readRegistrationFields(row, client);
      return client as unknown as C;
    },
  };
}

/** The optional client keys of dynamic client registration (`RegistrationClientColumns`). */
const REGISTRATION_KEYS = [
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
] as const;

/** A flag column: `true`, `false`, or `undefined` for NULL (the client has no such field). */
function triFlag(value: unknown): boolean | undefined {
  if (!isSet(value)) return undefined;
  if (flag(value)) return true;
  return value === false || value === 0 || value === '0' || value === 'f' || value === 'false' ? false : undefined;
}

/** Sets the registration fields of a client row on `client`; NULL columns leave their field out. */
function readRegistrationFields(row: Row, client: Record<string, unknown>): void {
  for (const key of ['requirePushedAuthorizationRequests', 'dpopBoundAccessTokens'] as const) {
    const v = triFlag(row[key]);
    if (v !== undefined) client[key] = v;
  }
  for (const key of ['name', 'uri', 'logoUri'] as const) if (isSet(row[key])) client[key] = str(row[key]);
  if (isSet(row.clientSecretExpiresAt)) client.clientSecretExpiresAt = toDate(row.clientSecretExpiresAt);
  else if (flag(row.secretNeverExpires)) client.clientSecretExpiresAt = null;
  if (isSet(row.registration)) {
    const r = JSON.parse(str(row.registration)) as Record<string, unknown>;
    const info: Record<string, unknown> = { accessTokenHash: str(r.accessTokenHash), issuedAt: toDate(r.issuedAt) };
    if (Array.isArray(r.contacts)) info.contacts = toArray(r.contacts);
    if (typeof r.softwareId === 'string') info.softwareId = r.softwareId;
    if (typeof r.softwareVersion === 'string') info.softwareVersion = r.softwareVersion;
    info.responseTypes = toArray(r.responseTypes);
    if (isSet(row.firstUsedAt)) info.firstUsedAt = toDate(row.firstUsedAt);
    client.registration = info;
  }
}

/** `true` for MySQL's duplicate-key error (ER_DUP_ENTRY, 1062), however Drizzle wrapped it. */
export function duplicateKey(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 6; depth++) {
    const { code, errno } = e as { code?: unknown; errno?: unknown };
    if (code === 'ER_DUP_ENTRY' || errno === 1062) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** `registration` as stored: JSON with `issuedAt` as ISO text (the digest, never the token). */
function registrationText(r: NonNullable<Client['registration']>): string {
  return JSON.stringify({
    accessTokenHash: r.accessTokenHash,
    issuedAt: r.issuedAt.toISOString(),
    ...(r.contacts !== undefined ? { contacts: [...r.contacts] } : {}),
    ...(r.softwareId !== undefined ? { softwareId: r.softwareId } : {}),
    ...(r.softwareVersion !== undefined ? { softwareVersion: r.softwareVersion } : {}),
    responseTypes: [...r.responseTypes],
  });
}

/**
 * A `ClientRegistrationStore` (dynamic client registration, RFC 7591/7592) over the client table
 * of `createClientStore`, which then finds the clients it writes. `createClient` is one INSERT
 * that does nothing on a taken id (`ON CONFLICT DO NOTHING`; MySQL `ON DUPLICATE KEY UPDATE id =
 * id`): the primary key picks the one winner of concurrent creates, the others answer `false`.
 * `updateClient` is one UPDATE of every column (absent fields become NULL; a first-use mark is
 * kept), `deleteClient` one DELETE, `listClients` one SELECT of a page in code-point id order
 * (whatever the column collation; `limit` a positive integer, at most 1000 per page). With the
 * `registeredAt` and `firstUsedAt` columns (the default tables) it also has `markClientUsed` and `purgeUnusedClients`. A table of your own may leave out the optional columns: clients that set such a field
 * are then refused with a TypeError naming it, rather than stored without it.
 */
export function createClientRegistrationStore<C extends Client = Client>(
  driver: Driver,
  table: TableWith<ClientColumns>,
): ClientRegistrationStore<C> {
  const columns = getTableColumns(table) as Record<string, Column>;
  const has = (key: string) => key in columns;
  /** The value of every column this store knows and the table has, by key. */
  const values = (c: Client): Record<string, unknown> => {
    requireFits(c.id, 'createClient: id');
    const row: Record<string, unknown> = {
      id: c.id,
      secretHash: c.secretHash,
      redirectUris: JSON.stringify(c.redirectUris),
      grantTypes: JSON.stringify(c.grantTypes),
      scopes: JSON.stringify(c.scopes),
    };
    const at = c.clientSecretExpiresAt;
    const optional: [string, unknown, boolean][] = [
      ['defaultScopes', listText(c.defaultScopes), c.defaultScopes !== undefined],
      ['tokenEndpointAuthMethod', c.tokenEndpointAuthMethod ?? null, c.tokenEndpointAuthMethod !== undefined],
      ['resourceServer', c.resourceServer ?? null, c.resourceServer === true],
      ['resources', listText(c.resources), c.resources !== undefined],
      [
        'requirePushedAuthorizationRequests',
        c.requirePushedAuthorizationRequests ?? null,
        c.requirePushedAuthorizationRequests !== undefined,
      ],
      ['dpopBoundAccessTokens', c.dpopBoundAccessTokens ?? null, c.dpopBoundAccessTokens !== undefined],
      ['name', c.name ?? null, c.name !== undefined],
      ['uri', c.uri ?? null, c.uri !== undefined],
      ['logoUri', c.logoUri ?? null, c.logoUri !== undefined],
      ['clientSecretExpiresAt', at instanceof Date ? driver.time(at) : null, at instanceof Date],
      ['secretNeverExpires', at === null ? true : null, at === null],
      ['registration', c.registration ? registrationText(c.registration) : null, c.registration !== undefined],
      // The purge columns, on tables that have them (a table without them just has no purge).
      ['registeredAt', c.registration ? driver.time(c.registration.issuedAt) : null, false],
    ];
    for (const [key, value, given] of optional) {
      if (has(key)) row[key] = typeof value === 'boolean' ? (columns[key] as Column).mapToDriverValue(value) : value;
      else if (given) {
        throw new TypeError(`createClientRegistrationStore: the client table has no ${key} column; migrate() adds it to the default table`);
      }
    }
    // The first-use mark is written only when the client carries one: an update never clears it.
    const used = c.registration?.firstUsedAt;
    if (used !== undefined && has('firstUsedAt')) row.firstUsedAt = driver.time(used);
    return row;
  };
  const exists = async (id: string) => (await driver.rows(sql`SELECT 1 AS one FROM ${table} WHERE ${name(table.id)} = ${id}`)).length > 0;
  return {
    createClient: (client) =>
      guard(async () => {
        const insert = sql`INSERT INTO ${table} ${insertValues(table, [values(client)])}`;
        if (driver.dialect !== 'mysql') return (await driver.run(sql`${insert} ON CONFLICT (${name(table.id)}) DO NOTHING`)) === 1;
        // MySQL has no DO NOTHING that reports the conflict (mysql2's FOUND_ROWS makes an
        // `ON DUPLICATE KEY UPDATE id = id` count 1 too): a duplicate key error it is.
        try {
          await driver.run(insert);
          return true;
        } catch (err) {
          if (duplicateKey(err)) return false;
          throw err;
        }
      }),
    updateClient: (client) =>
      guard(async () => {
        if (!fits(client.id, MAX_ID)) return false;
        const { id: _, ...row } = values(client);
        const set = sql.join(
          Object.entries(row).map(([key, value]) => sql`${name(columns[key] as Column)} = ${value}`),
          sql`, `,
        );
        const changed = await driver.run(sql`UPDATE ${table} SET ${set} WHERE ${name(table.id)} = ${client.id}`);
        // MySQL may count changed rows only: an update to the same values answers 0.
        return changed > 0 || (await exists(client.id));
      }),
    deleteClient: (clientId) =>
      guard(async () => {
        if (!fits(clientId, MAX_ID)) return false;
        return (await driver.run(sql`DELETE FROM ${table} WHERE ${name(table.id)} = ${clientId}`)) > 0;
      }),
    listClients: clientListing<C>(driver, table),
    ...(has('registration') && has('registeredAt') && has('firstUsedAt') ? unusedClientPurge(driver, table, columns) : {}),
  };
}

/** The largest page `listClients` answers; a larger `limit` gives this many. */
const LIST_CLIENTS_MAX = 1000;

/**
 * `listClients`: one SELECT of at most `limit + 1` rows with ids after `after`, in code-point
 * order whatever the column's collation (`COLLATE "C"` on PostgreSQL, a `BINARY` comparison on
 * MySQL/MariaDB, `COLLATE BINARY` on SQLite: UTF-8 bytes, the order of core's memory store and
 * the other bindings), the extra row telling whether a next page exists.
 */
function clientListing<C extends Client>(
  driver: Driver,
  table: TableWith<ClientColumns>,
): NonNullable<ClientRegistrationStore<C>['listClients']> {
  const read = clientRows(table);
  const id = name(table.id);
  const ordered =
    driver.dialect === 'postgresql' ? sql`${id} COLLATE "C"` : driver.dialect === 'mysql' ? sql`BINARY ${id}` : sql`${id} COLLATE BINARY`;
  return (after, limit) =>
    guard(async () => {
      if (after !== null && typeof after !== 'string') throw new TypeError('listClients: after must be a string or null');
      if (!Number.isInteger(limit) || limit < 1) throw new RangeError('listClients: limit must be a positive integer');
      const size = Math.min(limit, LIST_CLIENTS_MAX);
      const where = after === null ? sql`` : sql` WHERE ${ordered} > ${after}`;
      // `size` is a checked integer, written as a literal (MySQL refuses a LIMIT placeholder in prepared statements).
      const rows = await driver.rows(sql`SELECT ${read.list} FROM ${table}${where} ORDER BY ${ordered} LIMIT ${sql.raw(String(size + 1))}`);
      const page = rows.slice(0, size).map((row) => read.client<C>(row, str(row.id)));
      return { clients: page, next: rows.length > size ? (page.at(-1)?.id ?? null) : null };
    });
}

/**
 * `markClientUsed` (one conditional UPDATE: only a self-registered row whose `first_used_at` is
 * NULL) and `purgeUnusedClients` (a SELECT of at most `limit` ids, then one DELETE repeating the
 * conditions, so a client marked in between stays).
 */
function unusedClientPurge(
  driver: Driver,
  table: TableWith<ClientColumns>,
  columns: Record<string, Column>,
): Required<Pick<ClientRegistrationStore, 'markClientUsed' | 'purgeUnusedClients'>> {
  const id = name(table.id);
  const registration = name(columns.registration as Column);
  const registeredAt = name(columns.registeredAt as Column);
  const firstUsedAt = name(columns.firstUsedAt as Column);
  return {
    markClientUsed: (clientId, at) =>
      guard(async () => {
        if (!fits(clientId, MAX_ID)) return false;
        const changed = await driver.run(
          sql`UPDATE ${table} SET ${firstUsedAt} = ${driver.time(at)} WHERE ${id} = ${clientId} AND ${registration} IS NOT NULL AND ${firstUsedAt} IS NULL`,
        );
        return changed > 0;
      }),
    purgeUnusedClients: (registeredBefore, limit) =>
      guard(async () => {
        if (!Number.isInteger(limit) || limit < 0) throw new RangeError('purgeUnusedClients: limit must be a non-negative integer');
        if (limit === 0) return 0;
        const due = sql`${registration} IS NOT NULL AND ${registeredAt} < ${driver.time(registeredBefore)} AND ${firstUsedAt} IS NULL`;
        // `limit` is a checked integer, written as a literal (MySQL refuses a LIMIT placeholder in prepared statements).
        const rows = await driver.rows(sql`SELECT ${id} AS id FROM ${table} WHERE ${due} ORDER BY ${id} LIMIT ${sql.raw(String(limit))}`);
        if (rows.length === 0) return 0;
        const ids = sql.join(
          rows.map((r) => sql`${str(r.id)}`),
          sql`, `,
        );
        return driver.run(sql`DELETE FROM ${table} WHERE ${id} IN (${ids}) AND ${due}`);
      }),
  };
}

/**
 * A `UserStore` over a user table (keys: `UserColumns`; `username` unique, `passwordHash` from
 * `hashPassword()`). The user returned carries every column but `passwordHash`.
 */
export function createUserStore<U extends User = User>(driver: Driver, table: TableWith<UserColumns>): UserStore<U> {
  const columns = getTableColumns(table) as Record<string, Column>;
  const keys = Object.keys(columns);
  return {
    getUserByUsername: (username) =>
      guard(async (): Promise<UserCredentials<U> | null> => {
        if (!fits(username, MAX_ID)) return null;
        const query = sql`SELECT ${selectList(table, keys)} FROM ${table} WHERE ${name(table.username)} = ${username}`;
        const row = (await driver.rows(query))[0];
        if (!row || str(row.username) !== username || typeof row.passwordHash !== 'string') return null;
        const user: Record<string, unknown> = {};
        for (const key of keys) {
          if (key === 'passwordHash') continue;
          const value = row[key];
          user[key] = isSet(value) && key !== 'id' && key !== 'username' ? (columns[key] as Column).mapFromDriverValue(value) : value;
        }
        user.id = str(row.id);
        user.username = username;
        return { user: user as unknown as U, passwordHash: row.passwordHash };
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Grants

const GRANT_READ = [
  'clientId',
  'userId',
  'redirectUri',
  'scopes',
  'expiresAt',
  'grantId',
  'codeChallenge',
  'codeChallengeMethod',
  'resources',
  'dpopJkt',
  'consumedAt',
] as const;

/**
 * A `GrantStore` over a grant table keyed by (`codeHash`, `clientId`). Consuming is one
 * conditional `UPDATE ... SET consumedAt WHERE consumedAt IS NULL AND expiresAt > now`: with
 * `RETURNING` on PostgreSQL and SQLite (the winner gets the row from the same statement), with an
 * affected-rows check and a read of the now-consumed row on MySQL/MariaDB. The row stays as a
 * consumed marker until it expires, so a replay answers `replayed`.
 */
export function createGrantStore(driver: Driver, table: TableWith<GrantColumns>): GrantStore {
  // `authTime` is optional in a table of your own: without the column, codes are stored without it.
  const keepsAuthTime = hasColumn(table, 'authTime');
  const read = selectList(table, keepsAuthTime ? [...GRANT_READ, 'authTime'] : GRANT_READ);
  const toRecord = (v: Row, code: string): GrantRecord => {
    const record: GrantRecord = {
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
    };
    return withOptional(record, {
      resources: optArray(v.resources),
      dpopJkt: optStr(v.dpopJkt) ?? undefined,
      authTime: optDate(v.authTime),
    });
  };
  return {
    detectsReplay: CAPABILITIES.detectsReplay,
    capabilities: CAPABILITIES,
    saveGrant: (grant) =>
      guard(async () => {
        requireFits(grant.clientId, 'saveGrant: clientId');
        requireFits(grant.userId, 'saveGrant: userId');
        requireFits(grant.grantId, 'saveGrant: grantId');
        requireFits(grant.codeChallenge, 'saveGrant: codeChallenge');
        requireFits(grant.codeChallengeMethod, 'saveGrant: codeChallengeMethod');
        requireFits(grant.redirectUri, 'saveGrant: redirectUri', Number.POSITIVE_INFINITY);
        const row = {
          codeHash: keyHash(grant.code),
          clientId: grant.clientId,
          userId: grant.userId,
          redirectUri: grant.redirectUri,
          scopes: JSON.stringify(grant.scopes),
          expiresAt: driver.time(grant.expiresAt),
          grantId: grant.grantId,
          codeChallenge: grant.codeChallenge,
          codeChallengeMethod: grant.codeChallengeMethod,
          resources: listText(grant.resources),
          dpopJkt: dpopOf(grant),
          ...(keepsAuthTime ? { authTime: authTimeOf(driver, grant) } : {}),
        };
        await driver.run(sql`INSERT INTO ${table} ${insertValues(table, [row])}`);
      }),
    consumeGrant: (clientId, code) =>
      guard(async (): Promise<Consumed<GrantRecord> | null> => {
        if (!fits(clientId, MAX_ID)) return null;
        const key = sql`${name(table.codeHash)} = ${keyHash(code)} AND ${name(table.clientId)} = ${clientId}`;
        const now = driver.time(new Date());
        // The atomic step: of N concurrent callers, exactly one changes the row.
        const take = sql`UPDATE ${table} SET ${name(table.consumedAt)} = ${now} WHERE ${key} AND ${name(table.consumedAt)} IS NULL AND ${name(table.expiresAt)} > ${now}`;
        const select = sql`SELECT ${read} FROM ${table} WHERE ${key}`;
        if (driver.returning) {
          const won = (await driver.rows(sql`${take} RETURNING ${read}`))[0];
          if (won) return { outcome: 'consumed', record: toRecord(won, code) };
        } else if ((await driver.run(take)) === 1) {
          const won = (await driver.rows(select))[0];
          if (won) return { outcome: 'consumed', record: toRecord(won, code) };
        }
        // Lost, or nothing to take: a live consumed row is a replay; anything else is not found.
        const row = (await driver.rows(select))[0];
        if (!row || str(row.clientId) !== clientId || !isSet(row.consumedAt)) return null;
        if (toDate(row.expiresAt).getTime() <= Date.now()) return null;
        return { outcome: 'replayed', grantId: str(row.grantId) };
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Tokens

type Kind = 'access' | 'refresh';

const TOKEN_READ = [
  'clientId',
  'userId',
  'scopes',
  'expiresAt',
  'grantId',
  'audience',
  'resources',
  'dpopJkt',
  'consumedAt',
  'revokedAt',
] as const;

/**
 * A `TokenStore` over one token table keyed by (`tokenHash`, `kind`), `kind` being `access` or
 * `refresh`. `saveTokens` writes the pair in one multi-row `INSERT` (never half a pair) and
 * leaves the user's other tokens alone. Rotation marks `consumedAt` with the same conditional
 * `UPDATE` as a code (with `RETURNING` where the dialect has it); revocation marks `revokedAt`.
 */
export function createTokenStore(driver: Driver, table: TableWith<TokenColumns>): TokenStore {
  // `issuedAt` is informational (a user's grants): a table of your own without it stores tokens without it.
  const keepsIssuedAt = hasColumn(table, 'issuedAt');
  // So is `authTime` (a refresh token's `auth_time`; access tokens have none).
  const keepsAuthTime = hasColumn(table, 'authTime');
  const read = selectList(table, [...TOKEN_READ, ...(keepsIssuedAt ? ['issuedAt'] : []), ...(keepsAuthTime ? ['authTime'] : [])]);
  const key = (kind: Kind, token: string) => sql`${name(table.tokenHash)} = ${keyHash(token)} AND ${name(table.kind)} = ${kind}`;
  const toRow = (kind: Kind, t: AccessTokenRecord | RefreshTokenRecord) => {
    requireFits(t.clientId, `saveTokens: ${kind} clientId`);
    requireFits(t.userId, `saveTokens: ${kind} userId`);
    requireFits(t.grantId, `saveTokens: ${kind} grantId`);
    return {
      tokenHash: keyHash(t.token),
      kind,
      clientId: t.clientId,
      userId: t.userId,
      scopes: JSON.stringify(t.scopes),
      expiresAt: driver.time(t.expiresAt),
      grantId: t.grantId,
      audience: kind === 'access' ? listText((t as AccessTokenRecord).audience) : null,
      resources: kind === 'refresh' ? listText((t as RefreshTokenRecord).resources) : null,
      dpopJkt: dpopOf(t),
      ...(keepsIssuedAt ? { issuedAt: t.issuedAt ? driver.time(t.issuedAt) : null } : {}),
      ...(keepsAuthTime ? { authTime: kind === 'refresh' ? authTimeOf(driver, t) : null } : {}),
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
    const list = optArray(kind === 'access' ? v.audience : v.resources);
    const dpopJkt = optStr(v.dpopJkt) ?? undefined;
    const issuedAt = optDate(v.issuedAt);
    return withOptional(
      record,
      kind === 'access' ? { audience: list, dpopJkt, issuedAt } : { resources: list, dpopJkt, issuedAt, authTime: optDate(v.authTime) },
    );
  };
  /** The live record (not expired, revoked or consumed) or `null`. */
  const get = async (kind: Kind, token: string) => {
    const v = (await driver.rows(sql`SELECT ${read} FROM ${table} WHERE ${key(kind, token)}`))[0];
    if (!v || isSet(v.revokedAt) || isSet(v.consumedAt)) return null;
    const record = toRecord(kind, v, token);
    return record.expiresAt.getTime() <= Date.now() ? null : record;
  };
  return {
    detectsReplay: CAPABILITIES.detectsReplay,
    capabilities: CAPABILITIES,
    saveTokens: (access, refresh) =>
      guard(async () => {
        const rows = [toRow('access', access)];
        if (refresh) rows.push(toRow('refresh', refresh));
        await driver.run(sql`INSERT INTO ${table} ${insertValues(table, rows)}`);
      }),
    getAccessToken: (token) => guard(() => get('access', token)),
    getRefreshToken: (token) => guard(() => get('refresh', token)),
    consumeRefreshToken: (token) =>
      guard(async (): Promise<Consumed<RefreshTokenRecord> | null> => {
        const where = key('refresh', token);
        const now = driver.time(new Date());
        // The atomic step: of N concurrent callers, exactly one changes the row.
        const take = sql`UPDATE ${table} SET ${name(table.consumedAt)} = ${now} WHERE ${where} AND ${name(table.consumedAt)} IS NULL AND ${name(table.revokedAt)} IS NULL AND ${name(table.expiresAt)} > ${now}`;
        const select = sql`SELECT ${read} FROM ${table} WHERE ${where}`;
        if (driver.returning) {
          const won = (await driver.rows(sql`${take} RETURNING ${read}`))[0];
          if (won) return { outcome: 'consumed', record: toRecord('refresh', won, token) };
        } else if ((await driver.run(take)) === 1) {
          const won = (await driver.rows(select))[0];
          if (won) return { outcome: 'consumed', record: toRecord('refresh', won, token) };
        }
        // A rotated (consumed, not revoked) live token is a replay; anything else is not found.
        const row = (await driver.rows(select))[0];
        if (!row || !isSet(row.consumedAt) || isSet(row.revokedAt)) return null;
        if (toDate(row.expiresAt).getTime() <= Date.now()) return null;
        return { outcome: 'replayed', grantId: str(row.grantId) };
      }),
    revokeAccessToken: (token) =>
      guard(async () => {
        const now = driver.time(new Date());
        await driver.run(
          sql`UPDATE ${table} SET ${name(table.revokedAt)} = ${now} WHERE ${key('access', token)} AND ${name(table.revokedAt)} IS NULL`,
        );
      }),
    revokeFamily: (grantId) =>
      guard(async () => {
        if (!fits(grantId, MAX_ID)) return;
        const now = driver.time(new Date());
        await driver.run(
          sql`UPDATE ${table} SET ${name(table.revokedAt)} = ${now} WHERE ${name(table.grantId)} = ${grantId} AND ${name(table.revokedAt)} IS NULL`,
        );
      }),
  };
}

/**
 * Core's `UserGrantStore` over the token and grant tables (a user's "connected apps").
 * `listUserGrants` reads the user's live token rows (unrevoked, unexpired, refresh tokens also
 * unconsumed) through the `(user_id, client_id)` index and sums them up per client, in client id
 * order. `revokeUserGrants` sets `revokedAt` on every unrevoked token row of the user (for one
 * client or all), then deletes the user's unredeemed, unexpired codes for it; it counts the
 * families that had a live token and the codes deleted. `revokeClientGrants` (a client deleted
 * through RFC 7592) does the same for every token row and code of one client, whatever the user
 * (or none); no index has `client_id` first, so it scans the token table (deletions are rare). A
 * token table without `issuedAt` lists `null` dates.
 */
export function createUserGrantStore(driver: Driver, tokens: TableWith<TokenColumns>, grants: TableWith<GrantColumns>): UserGrantStore {
  const issued = hasColumn(tokens, 'issuedAt');
  const forUser = (userId: string, clientId: string | null) =>
    clientId === null
      ? sql`${name(tokens.userId)} = ${userId}`
      : sql`${name(tokens.userId)} = ${userId} AND ${name(tokens.clientId)} = ${clientId}`;
  const liveRows = (userId: string, clientId: string | null, now: unknown, keys: string[]) =>
    driver.rows(
      sql`SELECT ${selectList(tokens, keys)} FROM ${tokens} WHERE ${forUser(userId, clientId)} AND ${name(tokens.revokedAt)} IS NULL AND ${name(tokens.expiresAt)} > ${now} AND (${name(tokens.kind)} = ${'access'} OR ${name(tokens.consumedAt)} IS NULL)`,
    );
  return {
    listUserGrants: (userId) =>
      guard(async (): Promise<readonly UserGrantSummary[]> => {
        if (!fits(userId, MAX_ID)) return [];
        const rows = await liveRows(userId, null, driver.time(new Date()), [
          'clientId',
          'scopes',
          'grantId',
          ...(issued ? ['issuedAt'] : []),
        ]);
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
          if (isSet(v.issuedAt)) {
            const at = toDate(v.issuedAt).getTime();
            s.first = s.first === null ? at : Math.min(s.first, at);
            s.last = s.last === null ? at : Math.max(s.last, at);
          }
        }
        return [...by]
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([clientId, s]) => ({
            clientId,
            scopes: [...s.scopes],
            firstIssuedAt: s.first === null ? null : new Date(s.first),
            lastIssuedAt: s.last === null ? null : new Date(s.last),
            grants: s.families.size,
          }));
      }),
    revokeUserGrants: (userId, clientId) =>
      guard(async () => {
        if (!fits(userId, MAX_ID) || (clientId !== null && !fits(clientId, MAX_ID))) return 0;
        const now = driver.time(new Date());
        const families = new Set((await liveRows(userId, clientId, now, ['grantId'])).map((r) => str(r.grantId))).size;
        await driver.run(
          sql`UPDATE ${tokens} SET ${name(tokens.revokedAt)} = ${now} WHERE ${forUser(userId, clientId)} AND ${name(tokens.revokedAt)} IS NULL`,
        );
        const ofUser =
          clientId === null
            ? sql`${name(grants.userId)} = ${userId}`
            : sql`${name(grants.userId)} = ${userId} AND ${name(grants.clientId)} = ${clientId}`;
        const codes = await driver.run(
          sql`DELETE FROM ${grants} WHERE ${ofUser} AND ${name(grants.consumedAt)} IS NULL AND ${name(grants.expiresAt)} > ${now}`,
        );
        return families + codes;
      }),
    revokeClientGrants: (clientId) =>
      guard(async () => {
        if (!fits(clientId, MAX_ID)) return 0;
        const now = driver.time(new Date());
        const ofClient = sql`${name(tokens.clientId)} = ${clientId}`;
        const live = await driver.rows(
          sql`SELECT DISTINCT ${name(tokens.grantId)} AS ${sql.identifier('grantId')} FROM ${tokens} WHERE ${ofClient} AND ${name(tokens.revokedAt)} IS NULL AND ${name(tokens.expiresAt)} > ${now} AND (${name(tokens.kind)} = ${'access'} OR ${name(tokens.consumedAt)} IS NULL)`,
        );
        await driver.run(
          sql`UPDATE ${tokens} SET ${name(tokens.revokedAt)} = ${now} WHERE ${ofClient} AND ${name(tokens.revokedAt)} IS NULL`,
        );
        const codes = await driver.run(
          sql`DELETE FROM ${grants} WHERE ${name(grants.clientId)} = ${clientId} AND ${name(grants.consumedAt)} IS NULL AND ${name(grants.expiresAt)} > ${now}`,
        );
        return live.length + codes;
      }),
  };
}

/**
 * Deletes codes, tokens, device requests and ephemeral records whose `expiresAt` is before `now` (default: the current time). Run it
 * from a scheduled job: expired rows are never returned, this only reclaims the space. Returns how
 * many rows went.
 */
export async function purgeExpiredRows(
  driver: Driver,
  tables: {
    grants?: TableWith<'expiresAt'>;
    tokens?: TableWith<'expiresAt'>;
    devices?: TableWith<'expiresAt'>;
    ephemeral?: TableWith<'expiresAt'>;
  },
  now: Date = new Date(),
): Promise<number> {
  return guard(async () => {
    let removed = 0;
    for (const table of [tables.grants, tables.tokens, tables.devices, tables.ephemeral]) {
      if (!table) continue;
      removed += await driver.run(sql`DELETE FROM ${table} WHERE ${name(table.expiresAt)} < ${driver.time(now)}`);
    }
    return removed;
  });
}
