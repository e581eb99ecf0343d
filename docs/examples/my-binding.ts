/**
 * A binding of your own: the four Portcullis stores over "MyDb", a stand-in for your database.
 * MyDb keeps rows as a database would (JSON text, numbers), in process memory so that the example
 * runs anywhere; each table operation names the SQL it stands for. Guide: docs/writing-a-binding.md.
 */
import type {
  AccessTokenRecord,
  Client,
  ClientStore,
  Consumed,
  CurrentUser,
  GrantRecord,
  GrantStore,
  RefreshTokenRecord,
  StoreCapabilities,
  StoreRegistry,
  Stores,
  TokenStore,
  User,
  UserCredentials,
  UserStore,
} from '@portcullis/core';

/** A row as the database holds it: the record as JSON, plus the columns queries filter on. */
interface Row {
  readonly json: string;
  readonly expiresAt: number;
  consumed: boolean;
  revoked: boolean;
}

/** The four tables. In SQL: `clients`, `users`, `codes` keyed by (client_id, code), `tokens` keyed by (kind, token). */
export interface MyDb {
  readonly clients: Map<string, string>;
  readonly users: Map<string, string>;
  readonly codes: Map<string, Row>;
  readonly tokens: Map<string, Row & { readonly grantId: string }>;
}

export function createMyDb(): MyDb {
  return { clients: new Map(), users: new Map(), codes: new Map(), tokens: new Map() };
}

/** Writes a client (your admin tool or seed script does this; the store only reads). */
export function putClient(db: MyDb, client: Client): void {
  db.clients.set(client.id, JSON.stringify(client));
}

/** Writes a user; `passwordHash` comes from `hashPassword()`. */
export function putUser(db: MyDb, username: string, user: User, passwordHash: string): void {
  db.users.set(username, JSON.stringify({ user, passwordHash }));
}

// Records carry an `expiresAt` Date; rows keep milliseconds and give the same Date back.
// Every Date field of a record (`expiresAt`; `issuedAt` and `authTime` when set) goes the same way.
const DATES = new Set(['expiresAt', 'issuedAt', 'authTime']);
const encode = (record: { expiresAt: Date }) =>
  JSON.stringify(record, function (this: Record<string, unknown>, k, v) {
    const raw = this[k];
    return DATES.has(k) && raw instanceof Date ? raw.getTime() : v;
  });
function decode<T>(json: string): T {
  const row = JSON.parse(json) as Record<string, unknown>;
  for (const k of DATES) if (typeof row[k] === 'number') row[k] = new Date(row[k]);
  return row as T;
}
const live = (row: Row) => row.expiresAt > Date.now();
// A composite key that no pair of strings can forge: ('a:b', 'c') and ('a', 'b:c') differ.
const key = (...parts: string[]) => JSON.stringify(parts);

/** Both stores keep a consumed marker until expiry, so replays are reported; expiry is kept to the ms. */
const capabilities: StoreCapabilities = { detectsReplay: true, ttlGranularity: 'ms' };

export function createClientStore<C extends Client = Client>(db: MyDb): ClientStore<C> {
  return {
    // SELECT * FROM clients WHERE id = ?
    async getClient(clientId) {
      const json = db.clients.get(clientId);
      return json === undefined ? null : (JSON.parse(json) as C);
    },
  };
}

export function createUserStore<U extends User = User>(db: MyDb): UserStore<U> {
  return {
    // SELECT * FROM users WHERE username = ?  (core verifies the password against the hash)
    async getUserByUsername(username) {
      const json = db.users.get(username);
      return json === undefined ? null : (JSON.parse(json) as UserCredentials<U>);
    },
  };
}

export function createGrantStore(db: MyDb): GrantStore {
  return {
    capabilities,
    detectsReplay: capabilities.detectsReplay,
    // INSERT INTO codes (client_id, code, json, expires_at) VALUES (?, ?, ?, ?)
    async saveGrant(grant) {
      db.codes.set(key(grant.clientId, grant.code), {
        json: encode(grant),
        expiresAt: grant.expiresAt.getTime(),
        consumed: false,
        revoked: false,
      });
    },
    // UPDATE codes SET consumed = true WHERE client_id = ? AND code = ? AND NOT consumed AND expires_at > now
    // One winner: the caller whose UPDATE changed a row. Here the check and the mark run with no
    // `await` between them, which makes them atomic within the process.
    async consumeGrant(clientId, code): Promise<Consumed<GrantRecord> | null> {
      const row = db.codes.get(key(clientId, code));
      if (!row || !live(row)) return null;
      const record = decode<GrantRecord>(row.json);
      if (row.consumed) return { outcome: 'replayed', grantId: record.grantId };
      row.consumed = true;
      return { outcome: 'consumed', record };
    },
  };
}

export function createTokenStore(db: MyDb): TokenStore {
  const find = (kind: 'access' | 'refresh', token: string) => {
    const row = db.tokens.get(key(kind, token));
    return row && live(row) && !row.revoked ? row : undefined;
  };
  const put = (kind: 'access' | 'refresh', record: AccessTokenRecord | RefreshTokenRecord) => {
    const row = { json: encode(record), expiresAt: record.expiresAt.getTime(), grantId: record.grantId, consumed: false, revoked: false };
    db.tokens.set(key(kind, record.token), row);
  };
  return {
    capabilities,
    detectsReplay: capabilities.detectsReplay,
    // INSERT INTO tokens ... (both rows in one statement; the user's other tokens stay)
    async saveTokens(access, refresh) {
      put('access', access);
      if (refresh) put('refresh', refresh);
    },
    // SELECT ... WHERE kind = 'access' AND token = ? AND NOT revoked AND expires_at > now
    async getAccessToken(token) {
      const row = find('access', token);
      return row ? decode<AccessTokenRecord>(row.json) : null;
    },
    async getRefreshToken(token) {
      const row = find('refresh', token);
      return row && !row.consumed ? decode<RefreshTokenRecord>(row.json) : null;
    },
    // UPDATE tokens SET consumed = true WHERE kind = 'refresh' AND token = ? AND NOT consumed AND ...
    async consumeRefreshToken(token): Promise<Consumed<RefreshTokenRecord> | null> {
      const row = find('refresh', token);
      if (!row) return null;
      if (row.consumed) return { outcome: 'replayed', grantId: row.grantId };
      row.consumed = true;
      return { outcome: 'consumed', record: decode<RefreshTokenRecord>(row.json) };
    },
    // UPDATE tokens SET revoked = true WHERE kind = 'access' AND token = ?
    async revokeAccessToken(token) {
      const row = db.tokens.get(key('access', token));
      if (row) row.revoked = true;
    },
    // UPDATE tokens SET revoked = true WHERE grant_id = ?  (index grant_id)
    async revokeFamily(grantId) {
      for (const row of db.tokens.values()) if (row.grantId === grantId) row.revoked = true;
    },
  };
}

/** DELETE FROM codes/tokens WHERE expires_at <= now: run it from a timer. Returns the rows deleted. */
export function purgeExpired(db: MyDb): number {
  let deleted = 0;
  for (const table of [db.codes, db.tokens] as Map<string, Row>[]) {
    for (const [k, row] of table) if (!live(row) && table.delete(k)) deleted++;
  }
  return deleted;
}

/** The four stores, unregistered: for `provider.useStores(...)` or to mix with others. */
export function createMyDbStores<U extends User = User, C extends Client = Client>(db: MyDb): Required<Stores<U, C>> {
  return { clients: createClientStore<C>(db), users: createUserStore<U>(db), grants: createGrantStore(db), tokens: createTokenStore(db) };
}

export interface BindMyDbOptions<U extends User = User> {
  /** Who is signed in while deciding on an authorization request. */
  currentUser?: CurrentUser<U>;
}

/**
 * The binding: registers every store as `source: 'binding'`, so whatever the application
 * registers itself (`provider.clientGetter(fn)`, `useStores(...)`) wins, in any order.
 */
export function bindMyDb<U extends User = User, C extends Client = Client>(
  provider: StoreRegistry<U, C>,
  db: MyDb,
  options: BindMyDbOptions<U> = {},
): Required<Stores<U, C>> {
  const stores = createMyDbStores<U, C>(db);
  provider.useStores(stores, { source: 'binding' });
  if (options.currentUser) provider.setCurrentUser(options.currentUser, { source: 'binding' });
  return stores;
}
