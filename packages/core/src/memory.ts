import type {
  AccessTokenRecord,
  Client,
  ClientStore,
  Consumed,
  GrantRecord,
  GrantStore,
  KeyStore,
  RefreshTokenRecord,
  SigningKeyRecord,
  Stores,
  TokenStore,
  User,
  UserCredentials,
  UserStore,
} from './contract.js';
import { BINDING_STORES } from './registry.js';

/** A user for the in-memory user store. */
export interface MemoryUserSeed<U extends User = User> {
  readonly username: string;
  readonly user: U;
  /** From `hashPassword()`. */
  readonly passwordHash: string;
}

/** What `createMemoryStores` starts with, and its one limit. */
export interface MemoryStoresSeed<U extends User = User, C extends Client = Client> {
  clients?: readonly C[];
  users?: readonly MemoryUserSeed<U>[];
  /**
   * Most authorization codes held at once, pending or kept as replay markers. Past it the oldest
   * is dropped (codes all live `lifetimes.authorizationCode`, so the oldest is the nearest to
   * expiry): a flood of codes nobody redeems cannot grow the process without bound. A dropped
   * code is refused at the token endpoint like an expired one. Default 100,000.
   */
  maxCodes?: number;
}

/** The in-memory stores, with helpers to add clients and users at run time. */
export interface MemoryStores<U extends User = User, C extends Client = Client> extends Required<Stores<U, C>> {
  /** Signing keys of JWT access tokens. */
  keys: KeyStore;
  addClient(client: C): void;
  addUser(seed: MemoryUserSeed<U>): void;
}

let warned = false;
const SWEEP_INTERVAL_MS = 30_000;

/**
 * In-process stores for tests and quick starts: nothing survives a restart and nothing is shared
 * between processes, so it warns once when `NODE_ENV=production`. Consumption is a synchronous
 * Map operation, hence atomic; consumed codes and rotated refresh tokens are remembered until they
 * expire, so replays are reported. Expired entries are swept as new ones arrive.
 *
 * The returned object is marked as a binding: `provider.useStores(createMemoryStores())` ranks
 * below any explicit registration, and a later binding replaces it slot by slot.
 */
export function createMemoryStores<U extends User = User, C extends Client = Client>(
  seed: MemoryStoresSeed<U, C> = {},
): MemoryStores<U, C> {
  if (process.env.NODE_ENV === 'production' && !warned) {
    warned = true;
    console.warn(
      '[portcullis] The in-memory stores are in use with NODE_ENV=production: data is lost on restart and not shared between processes. Use a binding such as @portcullis/binding-sequelize.',
    );
  }
  const clients = new Map<string, C>();
  const users = new Map<string, MemoryUserSeed<U>>();
  for (const c of seed.clients ?? []) clients.set(c.id, c);
  for (const u of seed.users ?? []) users.set(u.username, u);
  const maxCodes = seed.maxCodes ?? 100_000;
  if (!Number.isInteger(maxCodes) || maxCodes < 1) throw new RangeError('maxCodes must be a positive integer');

  type Entry<T> = { record: T; consumed: boolean };
  const grants = new Map<string, Entry<GrantRecord>>();
  const access = new Map<string, AccessTokenRecord>();
  const refresh = new Map<string, Entry<RefreshTokenRecord>>();
  // grantId -> tokens of that family (most families hold one or two tokens: arrays are cheaper than Sets).
  const families = new Map<string, string[]>();
  let nextSweep = Date.now() + SWEEP_INTERVAL_MS;

  const live = (expiresAt: Date) => expiresAt.getTime() > Date.now();
  const grantKey = (clientId: string, code: string) => `${clientId.length}:${clientId}:${code}`;

  function sweep(): void {
    const now = Date.now();
    for (const [k, e] of grants) if (e.record.expiresAt.getTime() <= now) grants.delete(k);
    for (const [k, r] of access) if (r.expiresAt.getTime() <= now) forget(k, r.grantId, access);
    for (const [k, e] of refresh) if (e.record.expiresAt.getTime() <= now) forget(k, e.record.grantId, refresh);
  }
  function forget(token: string, grantId: string, map: Map<string, unknown>): void {
    map.delete(token);
    const fam = families.get(grantId);
    if (fam) {
      const i = fam.indexOf(token);
      if (i !== -1) fam.splice(i, 1);
      if (fam.length === 0) families.delete(grantId);
    }
  }
  /** Sweeps expired entries at most once per interval, so inserts stay O(1) amortized at any size. */
  function inserted(): void {
    const now = Date.now();
    if (now >= nextSweep) {
      nextSweep = now + SWEEP_INTERVAL_MS;
      sweep();
    }
  }
  function join(grantId: string, token: string): void {
    const fam = families.get(grantId);
    if (fam) fam.push(token);
    else families.set(grantId, [token]);
  }

  const clientStore: ClientStore<C> = {
    async getClient(clientId) {
      return clients.get(clientId) ?? null;
    },
  };
  const userStore: UserStore<U> = {
    async getUserByUsername(username): Promise<UserCredentials<U> | null> {
      const u = users.get(username);
      return u ? { user: u.user, passwordHash: u.passwordHash } : null;
    },
  };
  const grantStore: GrantStore = {
    detectsReplay: true,
    capabilities: { detectsReplay: true, ttlGranularity: 'ms' },
    async saveGrant(grant) {
      grants.set(grantKey(grant.clientId, grant.code), { record: { ...grant, scopes: [...grant.scopes] }, consumed: false });
      // A Map iterates in insertion order: its first key is the oldest code.
      if (grants.size > maxCodes) grants.delete(grants.keys().next().value!);
      inserted();
    },
    async consumeGrant(clientId, code): Promise<Consumed<GrantRecord> | null> {
      const key = grantKey(clientId, code);
      const e = grants.get(key);
      if (!e) return null;
      if (!live(e.record.expiresAt)) {
        grants.delete(key);
        return null;
      }
      if (e.consumed) return { outcome: 'replayed', grantId: e.record.grantId };
      e.consumed = true;
      return { outcome: 'consumed', record: e.record };
    },
  };
  const tokenStore: TokenStore = {
    detectsReplay: true,
    capabilities: { detectsReplay: true, ttlGranularity: 'ms' },
    async saveTokens(a, r) {
      access.set(a.token, { ...a, scopes: [...a.scopes] });
      join(a.grantId, a.token);
      if (r) {
        refresh.set(r.token, { record: { ...r, scopes: [...r.scopes] }, consumed: false });
        join(r.grantId, r.token);
      }
      inserted();
    },
    // Answered directly, not through a promise: the hot path of every protected request.
    getAccessToken(token) {
      const r = access.get(token);
      return r && live(r.expiresAt) ? r : null;
    },
    async getRefreshToken(token) {
      const e = refresh.get(token);
      return e && !e.consumed && live(e.record.expiresAt) ? e.record : null;
    },
    async consumeRefreshToken(token): Promise<Consumed<RefreshTokenRecord> | null> {
      const e = refresh.get(token);
      if (!e || !live(e.record.expiresAt)) return null;
      if (e.consumed) return { outcome: 'replayed', grantId: e.record.grantId };
      e.consumed = true;
      return { outcome: 'consumed', record: e.record };
    },
    async revokeAccessToken(token) {
      const r = access.get(token);
      if (r) forget(token, r.grantId, access);
    },
    async revokeFamily(grantId) {
      const fam = families.get(grantId);
      if (!fam) return;
      for (const t of fam) {
        access.delete(t);
        refresh.delete(t);
      }
      families.delete(grantId);
    },
  };
  // Signing keys of JWT access tokens: a handful at a time, kept as given (private parts are
  // already encrypted by core). Copies go out, so a caller cannot change what is held.
  const signingKeys = new Map<string, SigningKeyRecord>();
  const keyStore: KeyStore = {
    async listKeys() {
      return [...signingKeys.values()].map((k) => structuredClone(k));
    },
    async addKey(key) {
      if (!signingKeys.has(key.kid)) signingKeys.set(key.kid, structuredClone(key));
    },
    async retireKey(kid, retiresAt) {
      const k = signingKeys.get(kid);
      if (k) signingKeys.set(kid, { ...k, retiresAt: new Date(retiresAt) });
    },
    async removeRetiredKeys(before) {
      let n = 0;
      for (const [kid, k] of signingKeys) {
        if (k.retiresAt !== null && k.retiresAt.getTime() < before.getTime()) {
          signingKeys.delete(kid);
          n++;
        }
      }
      return n;
    },
  };
  const stores: MemoryStores<U, C> = {
    clients: clientStore,
    users: userStore,
    grants: grantStore,
    tokens: tokenStore,
    keys: keyStore,
    addClient: (c) => void clients.set(c.id, c),
    addUser: (u) => void users.set(u.username, u),
  };
  Object.defineProperty(stores, BINDING_STORES, { value: true });
  return stores;
}
