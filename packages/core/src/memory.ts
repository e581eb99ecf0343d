import type {
  AccessTokenRecord,
  Client,
  ClientRegistrationStore,
  ClientStore,
  Consumed,
  DeviceCodeRecord,
  DeviceCodeStore,
  EphemeralStore,
  GrantRecord,
  GrantStore,
  KeyStore,
  RefreshTokenRecord,
  SigningKeyRecord,
  Stores,
  TokenStore,
  User,
  UserCredentials,
  UserGrantStore,
  UserGrantSummary,
  UserStore,
} from './contract.js';
import { BINDING_STORES } from './registry.js';
import type { Writable } from './writable.js';

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
   * code is refused at the token endpoint like an expired one. Default 100,000. The same bound
   * applies, separately, to device authorization requests.
   */
  maxCodes?: number;
}

/** The in-memory stores, with helpers to add clients and users at run time. */
export interface MemoryStores<U extends User = User, C extends Client = Client> extends Required<Stores<U, C>> {
  /** Signing keys of JWT access tokens. */
  keys: KeyStore;
  /** Device authorization requests (RFC 8628). */
  devices: DeviceCodeStore;
  /** Short-lived records (pushed authorization requests, RFC 9126). */
  ephemeral: EphemeralStore;
  /** Client writes for dynamic registration (RFC 7591/7592), on the same clients as `clients`. */
  registrations: ClientRegistrationStore<C>;
  /** Per-user grant views and revocation (per user, or of a deleted client), over the tokens and codes above. */
  userGrants: Required<UserGrantStore>;
  addClient(client: C): void;
  addUser(seed: MemoryUserSeed<U>): void;
}

/**
 * An access token as the memory stores hold it: its times as numbers rather than `Date`s. A `Date`
 * is an object of about 100 bytes; two per live token were most of what the garbage collector
 * copied and marked while millions of tokens were held, which made every token request slower as
 * the store grew. Every field is always present, so all held tokens share one shape.
 */
interface HeldAccess {
  readonly token: string;
  readonly clientId: string;
  readonly userId: string | null;
  readonly scopes: readonly string[];
  /** `expiresAt` in epoch milliseconds. */
  readonly exp: number;
  readonly grantId: string;
  readonly audience: readonly string[] | undefined;
  readonly dpopJkt: string | undefined;
  /** `issuedAt` in epoch milliseconds, when the record had one. */
  readonly iat: number | undefined;
}

function held(a: AccessTokenRecord, scopes: readonly string[]): HeldAccess {
  return {
    token: a.token,
    clientId: a.clientId,
    userId: a.userId,
    scopes,
    exp: a.expiresAt.getTime(),
    grantId: a.grantId,
    audience: a.audience === undefined ? undefined : Object.freeze([...a.audience]),
    dpopJkt: a.dpopJkt,
    iat: a.issuedAt?.getTime(),
  };
}

/** The record a held token is read as: a new object each time, so a caller cannot change what is held. */
function accessRecord(h: HeldAccess): AccessTokenRecord {
  const r: Writable<AccessTokenRecord> = {
    token: h.token,
    clientId: h.clientId,
    userId: h.userId,
    scopes: h.scopes,
    expiresAt: new Date(h.exp),
    grantId: h.grantId,
  };
  if (h.audience !== undefined) r.audience = h.audience;
  if (h.dpopJkt !== undefined) r.dpopJkt = h.dpopJkt;
  if (h.iat !== undefined) r.issuedAt = new Date(h.iat);
  return r;
}

let warned = false;
const SWEEP_INTERVAL_MS = 30_000;
/** At most this many distinct scope lists are shared between tokens; beyond it each token keeps its own copy. */
const MAX_SHARED_SCOPE_LISTS = 1024;
/** How long an expired device request is kept, so its polls answer `expired_token` rather than `invalid_grant`. */
const DEVICE_EXPIRED_KEPT_MS = 10 * 60_000;

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
  const access = new Map<string, HeldAccess>();
  const refresh = new Map<string, Entry<RefreshTokenRecord>>();
  // grantId -> tokens of that family: the token itself while it is the only one (most
  // client_credentials families), else an array (arrays are cheaper than Sets at these sizes). One
  // object less per token keeps garbage collection light while millions of tokens are live.
  const families = new Map<string, string | string[]>();
  // Scope lists held by tokens, one frozen copy per distinct list (bounded): thousands of tokens
  // share a few lists, and one array per token would be held as long as the token.
  const scopeLists = new Map<string, readonly string[]>();
  // Device requests by client and device code digest, and the same key by normalized user code.
  const devices = new Map<string, DeviceCodeRecord>();
  const userCodes = new Map<string, string>();
  let nextSweep = Date.now() + SWEEP_INTERVAL_MS;

  const live = (expiresAt: Date) => expiresAt.getTime() > Date.now();
  const grantKey = (clientId: string, code: string) => `${clientId.length}:${clientId}:${code}`;

  function sweep(): void {
    const now = Date.now();
    for (const [k, e] of grants) if (e.record.expiresAt.getTime() <= now) grants.delete(k);
    for (const [k, r] of access) if (r.exp <= now) forget(k, r.grantId, access);
    for (const [k, e] of refresh) if (e.record.expiresAt.getTime() <= now) forget(k, e.record.grantId, refresh);
    for (const [k, d] of devices) if (d.expiresAt.getTime() + DEVICE_EXPIRED_KEPT_MS <= now) dropDevice(k, d);
    for (const [k, r] of shortLived) if (r.expiresAt <= now) shortLived.delete(k);
  }
  function dropDevice(key: string, d: DeviceCodeRecord): void {
    devices.delete(key);
    if (userCodes.get(d.userCode) === key) userCodes.delete(d.userCode);
  }
  /** The live device request a user code names, with its key. */
  function byUserCode(userCode: string): [string, DeviceCodeRecord] | null {
    const key = userCodes.get(userCode);
    const d = key === undefined ? undefined : devices.get(key);
    return key !== undefined && d && live(d.expiresAt) ? [key, d] : null;
  }
  function forget(token: string, grantId: string, map: Map<string, unknown>): void {
    map.delete(token);
    const fam = families.get(grantId);
    if (fam === undefined) return;
    if (typeof fam === 'string') {
      if (fam === token) families.delete(grantId);
      return;
    }
    const i = fam.indexOf(token);
    if (i !== -1) fam.splice(i, 1);
    if (fam.length === 0) families.delete(grantId);
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
    if (fam === undefined) families.set(grantId, token);
    else if (typeof fam === 'string') families.set(grantId, [fam, token]);
    else fam.push(token);
  }
  /** A frozen copy of `scopes`, shared by every token holding the same list. */
  function sharedScopes(scopes: readonly string[]): readonly string[] {
    const key = scopes.join(' ');
    const held = scopeLists.get(key);
    // The key is only a hint: a list whose items hold spaces could share it, so compare items.
    if (held !== undefined && held.length === scopes.length && held.every((s, i) => s === scopes[i])) return held;
    const copy = Object.freeze([...scopes]);
    if (held === undefined && scopeLists.size < MAX_SHARED_SCOPE_LISTS) scopeLists.set(key, copy);
    return copy;
  }

  const clientStore: ClientStore<C> = {
    async getClient(clientId) {
      return clients.get(clientId) ?? null;
    },
  };
  const registrationStore: ClientRegistrationStore<C> = {
    async createClient(client) {
      if (clients.has(client.id)) return false;
      clients.set(client.id, client);
      return true;
    },
    async updateClient(client) {
      const old = clients.get(client.id);
      if (!old) return false;
      // A first-use mark, once set, stays (an update read before the mark must not clear it).
      const used = old.registration?.firstUsedAt;
      const keep = used !== undefined && client.registration !== undefined && client.registration.firstUsedAt === undefined;
      clients.set(client.id, keep ? ({ ...client, registration: { ...client.registration!, firstUsedAt: used } } as C) : client);
      return true;
    },
    async markClientUsed(clientId, at) {
      const c = clients.get(clientId);
      if (!c?.registration || c.registration.firstUsedAt !== undefined) return false;
      clients.set(clientId, { ...c, registration: { ...c.registration, firstUsedAt: new Date(at.getTime()) } } as C);
      return true;
    },
    async purgeUnusedClients(registeredBefore, limit) {
      let removed = 0;
      for (const [id, c] of clients) {
        if (removed >= limit) break;
        const r = c.registration;
        if (r && r.firstUsedAt === undefined && r.issuedAt.getTime() < registeredBefore.getTime()) {
          clients.delete(id);
          removed++;
        }
      }
      return removed;
    },
    async deleteClient(clientId) {
      return clients.delete(clientId);
    },
    async listClients(after, limit) {
      if (after !== null && typeof after !== 'string') throw new TypeError('listClients: after must be a string or null');
      if (!Number.isInteger(limit) || limit < 1) throw new RangeError('listClients: limit must be a positive integer');
      // Code-point order (the byte order of UTF-8), as the SQL and MongoDB bindings sort; JavaScript's
      // default order of UTF-16 code units differs for characters above U+FFFF.
      const byCodePoint = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
      const ids = [...clients.keys()].filter((id) => after === null || byCodePoint(id, after) > 0).sort(byCodePoint);
      const page = ids.slice(0, limit);
      const next = ids.length > page.length && page.length > 0 ? page[page.length - 1]! : null;
      return { clients: page.map((id) => clients.get(id)!), next };
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
      access.set(a.token, held(a, sharedScopes(a.scopes)));
      join(a.grantId, a.token);
      if (r) {
        refresh.set(r.token, { record: { ...r, scopes: sharedScopes(r.scopes) }, consumed: false });
        join(r.grantId, r.token);
      }
      inserted();
    },
    // Answered directly, not through a promise: the hot path of every protected request.
    getAccessToken(token) {
      const h = access.get(token);
      return h !== undefined && h.exp > Date.now() ? accessRecord(h) : null;
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
      if (fam === undefined) return;
      for (const t of typeof fam === 'string' ? [fam] : fam) {
        access.delete(t);
        refresh.delete(t);
      }
      families.delete(grantId);
    },
  };
  // Device requests: every change is one synchronous step on the Map, hence atomic. Records are
  // copied in and out (structuredClone keeps the Dates), so a caller cannot change what is held.
  const deviceStore: DeviceCodeStore = {
    async saveDeviceCode(record) {
      if (byUserCode(record.userCode)) return false;
      const key = grantKey(record.clientId, record.deviceCode);
      const old = devices.get(key);
      if (old) dropDevice(key, old);
      devices.set(key, structuredClone(record));
      userCodes.set(record.userCode, key);
      if (devices.size > maxCodes) {
        const oldest = devices.keys().next().value!;
        dropDevice(oldest, devices.get(oldest)!);
      }
      inserted();
      return true;
    },
    async findDeviceCode(userCode) {
      const found = byUserCode(userCode);
      return found ? structuredClone(found[1]) : null;
    },
    async recordPoll(clientId, deviceCode, polledAt) {
      const key = grantKey(clientId, deviceCode);
      const d = devices.get(key);
      if (!d) return null;
      const last = d.lastPolledAt;
      const tooSoon = last !== null && polledAt.getTime() - last.getTime() < d.interval * 1000;
      devices.set(key, { ...d, lastPolledAt: new Date(polledAt), interval: tooSoon ? d.interval + 5 : d.interval });
      return structuredClone(d);
    },
    async decideDeviceCode(userCode, decision) {
      const found = byUserCode(userCode);
      if (found?.[1].status !== 'pending') return null;
      const [key, d] = found;
      const next: DeviceCodeRecord = decision.approved
        ? decision.authTime === undefined
          ? { ...d, status: 'approved', userId: decision.userId, scopes: [...decision.scopes] }
          : { ...d, status: 'approved', userId: decision.userId, scopes: [...decision.scopes], authTime: new Date(decision.authTime) }
        : { ...d, status: 'denied', userId: decision.userId };
      devices.set(key, next);
      return structuredClone(next);
    },
    async consumeDeviceCode(clientId, deviceCode) {
      const key = grantKey(clientId, deviceCode);
      const d = devices.get(key);
      if (d?.status !== 'approved' || !live(d.expiresAt)) return null;
      devices.set(key, { ...d, status: 'consumed' });
      return structuredClone(d);
    },
  };
  // Signing keys of JWT access tokens: a handful at a time, kept as given (private parts are
  // already encrypted by core). Copies go out, so a caller cannot change what is held.
  // Per-user views: a scan of the live records (the memory stores are for tests and quick starts).
  const userGrantStore: Required<UserGrantStore> = {
    async listUserGrants(userId) {
      const by = new Map<string, { scopes: Set<string>; first: number | null; last: number | null; families: Set<string> }>();
      const add = (r: AccessTokenRecord | RefreshTokenRecord) => {
        if (r.userId !== userId || !live(r.expiresAt)) return;
        let s = by.get(r.clientId);
        if (!s) {
          s = { scopes: new Set(), first: null, last: null, families: new Set() };
          by.set(r.clientId, s);
        }
        for (const x of r.scopes) s.scopes.add(x);
        s.families.add(r.grantId);
        const at = r.issuedAt?.getTime();
        if (at !== undefined) {
          s.first = s.first === null ? at : Math.min(s.first, at);
          s.last = s.last === null ? at : Math.max(s.last, at);
        }
      };
      for (const h of access.values()) add(accessRecord(h));
      for (const e of refresh.values()) if (!e.consumed) add(e.record);
      const out: UserGrantSummary[] = [];
      for (const [clientId, s] of by) {
        out.push({
          clientId,
          scopes: [...s.scopes],
          firstIssuedAt: s.first === null ? null : new Date(s.first),
          lastIssuedAt: s.last === null ? null : new Date(s.last),
          grants: s.families.size,
        });
      }
      return out;
    },
    async revokeUserGrants(userId, clientId) {
      return revokeWhere((r) => r.userId === userId && (clientId === null || r.clientId === clientId));
    },
    async revokeClientGrants(clientId) {
      return revokeWhere((r) => r.clientId === clientId);
    },
  };
  /** Revokes the families of every token and the unredeemed codes `matches` picks; counts both. */
  async function revokeWhere(matches: (r: { userId: string | null; clientId: string }) => boolean): Promise<number> {
    const picked = new Set<string>();
    for (const r of access.values()) if (matches(r)) picked.add(r.grantId);
    for (const e of refresh.values()) if (matches(e.record)) picked.add(e.record.grantId);
    let codes = 0;
    for (const [k, e] of grants) {
      if (!e.consumed && matches(e.record)) {
        grants.delete(k);
        codes++;
      }
    }
    for (const f of picked) await tokenStore.revokeFamily(f);
    return picked.size + codes;
  }
  // Short-lived records: one synchronous Map step per call, hence atomic; bounded like codes.
  const shortLived = new Map<string, { value: string; expiresAt: number }>();
  const liveValue = (key: string): string | null => {
    const r = shortLived.get(key);
    if (!r) return null;
    if (r.expiresAt > Date.now()) return r.value;
    shortLived.delete(key);
    return null;
  };
  const ephemeralStore: EphemeralStore = {
    async add(key, value, expiresAt) {
      if (liveValue(key) !== null) return false;
      shortLived.delete(key);
      shortLived.set(key, { value, expiresAt: expiresAt.getTime() });
      if (shortLived.size > maxCodes) shortLived.delete(shortLived.keys().next().value!);
      inserted();
      return true;
    },
    async get(key) {
      return liveValue(key);
    },
    async take(key) {
      const v = liveValue(key);
      if (v !== null) shortLived.delete(key);
      return v;
    },
  };
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
    devices: deviceStore,
    ephemeral: ephemeralStore,
    registrations: registrationStore,
    userGrants: userGrantStore,
    addClient: (c) => void clients.set(c.id, c),
    addUser: (u) => void users.set(u.username, u),
  };
  Object.defineProperty(stores, BINDING_STORES, { value: true });
  return stores;
}
