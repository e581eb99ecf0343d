/**
 * What the provider keeps between requests besides OAuth data: sign-in sessions, consent pages
 * waiting for an answer, remembered consents, the rate limits' failure counters, and the key the
 * login form's CSRF tokens are derived with. One small interface, two implementations:
 *
 * - `memoryState` (default, `STATE_STORE=memory`): this process's memory, bounded; fine for one
 *   process.
 * - `sharedState` (`STATE_STORE=shared`): records in a store every process reaches (Redis when the
 *   grant cache is Redis, else the database), each expiring on its own, so that any process can
 *   serve any request of a browser flow and the limits count across processes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { FailureCounter } from '../rate-limit.js';
import { fixedLoginKeys, type LoginKeys, MAX_PENDING, type PendingConsent, randomId, SessionStore } from '../session.js';
import type { KeyValue } from './key-value.js';

export type { LoginKeys } from '../session.js';

/** A signed-in user's session. */
export interface SignedIn {
  readonly id: string;
  /** The CSRF token every form of this session carries. */
  readonly csrf: string;
  readonly userId: string;
  readonly username: string;
  /**
   * When the user signed in (ms since the epoch): the `authTime` of the decisions made in this
   * session (see `decidedBy`). `null` for a shared session recorded before the app kept it.
   */
  readonly signedInAt: number | null;
}

/**
 * Who answers a consent in session `s`, for `completeAuthorization` and
 * `completeDeviceAuthorization`: its user and, when the session knows it, `authTime` (when the user
 * signed in), which JWT access tokens carry as `auth_time` (RFC 9068 section 2.2.1). A sign-in time
 * ahead of this clock (written by a process whose clock runs ahead, or before this clock was set
 * back) counts as now: core refuses an `authTime` in the future.
 */
export function decidedBy(s: SignedIn): { readonly userId: string; readonly authTime?: Date } {
  if (s.signedInAt === null) return { userId: s.userId };
  return { userId: s.userId, authTime: new Date(Math.min(s.signedInAt, Date.now())) };
}

export interface SessionState {
  /** The live session with this id (its idle deadline moves on), or `null`. */
  get(id: string | undefined): Promise<SignedIn | null>;
  /**
   * A new session with a new id and CSRF token, signed in now (`signedInAt`); the browser's
   * previous one, if any, ends.
   */
  signIn(previousId: string | null, userId: string, username: string): Promise<SignedIn>;
  destroy(id: string): Promise<void>;
  /** Keeps a consent page's request for the session; returns its id. */
  addPending(session: SignedIn, consent: PendingConsent): Promise<string>;
  /** The pending consent, removed (answered once: of concurrent answers one gets it), or `null`. */
  takePending(session: SignedIn, consentId: string): Promise<PendingConsent | null>;
}

export interface ConsentState {
  covers(userId: string, clientId: string, scopes: readonly string[]): Promise<boolean>;
  remember(userId: string, clientId: string, scopes: readonly string[]): Promise<void>;
  /** Forgets what `userId` approved for `clientId` (the next authorization asks again). */
  forget(userId: string, clientId: string): Promise<void>;
}

/** Failures per key within a fixed window that starts at the key's first failure. */
export interface Counter {
  /** Seconds until `key` may try again (a whole number, at least 1), or 0 when it is not blocked. */
  retryAfter(key: string): Promise<number>;
  fail(key: string): Promise<void>;
}

export interface AppState {
  /** `memory` or what the shared records live on. */
  readonly description: string;
  readonly sessions: SessionState;
  readonly consents: ConsentState;
  /** A counter named `name` (each name counts apart); `maxFailures` 0 or less turns it off. */
  counter(name: string, maxFailures: number, windowMs: number, maxEntries: number): Counter;
  /**
   * The keys login-form CSRF tokens are derived with: the same in every process sharing the state.
   * Resolves once the first key is known; the shared state then keeps it in step with the store
   * (see `sharedState`), so a store that comes back empty does not leave processes on different keys.
   */
  loginKey(): Promise<LoginKeys>;
  /** One cheap round trip to the shared store (nothing for memory). */
  ping(): Promise<void>;
  /** Deletes up to `batchSize` expired records, for stores that do not expire them themselves (SQL). */
  purgeExpired?(batchSize: number): Promise<number>;
  close(): Promise<void>;
}

/** How often a process re-reads the shared login CSRF key (and writes its own back when the store lost it). */
export const LOGIN_KEY_REFRESH_MS = 1000;
/** How long a replaced login CSRF key still verifies tokens (forms rendered just before the change). */
export const LOGIN_KEY_GRACE_MS = 10 * 60_000;
/** The most replaced keys kept for verification. */
const MAX_OLD_LOGIN_KEYS = 4;
const LOGIN_KEY_RECORD = 'login-csrf-key';
const LOGIN_KEY_TTL_MS = 10 * 365 * 86400_000;

/**
 * The login CSRF key shared through `kv`, kept in step with the store: every `refreshMs` (and at
 * once on `start`) the process reads the record; when the record is missing (the store restarted
 * empty, or was flushed) it writes back the key it holds, so processes that already agree keep
 * their key and only a process that never had one makes a new one; when the record holds another
 * key (a process wrote one while the store was empty) the process switches to it and keeps
 * accepting the one it replaced for `LOGIN_KEY_GRACE_MS`. Refreshes never overlap; a failed one
 * (store down) keeps the keys and is tried again on the next tick.
 */
class SharedLoginKeys implements LoginKeys {
  private key: Buffer | null = null;
  private old: { key: Buffer; until: number }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly kv: KeyValue,
    private readonly refreshMs: number,
  ) {}

  /** Reads (or creates) the key, then refreshes it every `refreshMs` until `close()`. */
  async start(): Promise<this> {
    await this.refresh();
    if (!this.closed && this.timer === null) {
      this.timer = setInterval(() => {
        if (this.running === null) void this.refresh().catch(() => {}); // kept; tried again on the next tick
      }, this.refreshMs);
      this.timer.unref();
    }
    return this;
  }

  /** One read of the record (and one write when it is missing); adopts what the store holds. */
  refresh(): Promise<void> {
    this.running ??= (async () => {
      let stored = await this.kv.get(LOGIN_KEY_RECORD);
      if (stored === null) {
        await this.kv.add(LOGIN_KEY_RECORD, (this.key ?? randomBytes(32)).toString('base64url'), LOGIN_KEY_TTL_MS);
        stored = await this.kv.get(LOGIN_KEY_RECORD);
        if (stored === null) throw new Error('the login CSRF key could not be read back');
      }
      this.adopt(Buffer.from(stored, 'base64url'));
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private adopt(key: Buffer): void {
    if (key.length < 16) throw new Error('the stored login CSRF key is too short');
    if (this.key?.equals(key)) return;
    const now = Date.now();
    this.old = this.old.filter((o) => o.until > now && !o.key.equals(key));
    if (this.key) this.old.unshift({ key: this.key, until: now + LOGIN_KEY_GRACE_MS });
    this.old.length = Math.min(this.old.length, MAX_OLD_LOGIN_KEYS);
    this.key = key;
  }

  current(): Buffer {
    if (!this.key) throw new Error('the login CSRF key has not been read yet');
    return this.key;
  }

  accepted(): readonly Buffer[] {
    const now = Date.now();
    return [this.current(), ...this.old.filter((o) => o.until > now).map((o) => o.key)];
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

export interface StateOptions {
  /** Idle lifetime of a session, ms. */
  readonly sessionTtlMs: number;
  /** Most sessions kept in memory (the memory state only). */
  readonly sessionMaxEntries: number;
  /** How often the shared state re-reads the login CSRF key, ms. Default `LOGIN_KEY_REFRESH_MS`. */
  readonly loginKeyRefreshMs?: number;
}

/** How long a remembered consent is kept by the shared state (the memory one keeps it until restart). */
export const REMEMBERED_CONSENT_TTL_MS = 30 * 86400_000;

/** The remembered consents of the memory state: bounded, lost on restart. */
class ConsentMemory {
  private readonly map = new Map<string, Set<string>>();
  constructor(private readonly max = 10_000) {}
  private key(userId: string, clientId: string): string {
    return JSON.stringify([userId, clientId]);
  }
  covers(userId: string, clientId: string, scopes: readonly string[]): boolean {
    const granted = this.map.get(this.key(userId, clientId));
    return granted !== undefined && scopes.every((s) => granted.has(s));
  }
  remember(userId: string, clientId: string, scopes: readonly string[]): void {
    const k = this.key(userId, clientId);
    const set = this.map.get(k) ?? new Set<string>();
    for (const s of scopes) set.add(s);
    this.map.delete(k);
    for (const old of this.map.keys()) {
      if (this.map.size < this.max) break;
      this.map.delete(old);
    }
    this.map.set(k, set);
  }
  forget(userId: string, clientId: string): void {
    this.map.delete(this.key(userId, clientId));
  }
}

/** The state in this process's memory (one process). */
export function memoryState(o: StateOptions): AppState {
  const store = new SessionStore(o.sessionTtlMs, o.sessionMaxEntries);
  const consents = new ConsentMemory();
  const keys = fixedLoginKeys(randomBytes(32));
  const signedIn = (id: string | undefined) => {
    const s = store.get(id);
    return s?.userId ? s : null;
  };
  return {
    description: 'memory',
    sessions: {
      get: async (id) => {
        const s = signedIn(id);
        return s ? { id: s.id, csrf: s.csrf, userId: s.userId!, username: s.username ?? s.userId!, signedInAt: s.signedInAt } : null;
      },
      async signIn(previousId, userId, username) {
        const s = store.signIn(previousId ? store.get(previousId) : null, userId, username);
        return { id: s.id, csrf: s.csrf, userId, username, signedInAt: s.signedInAt };
      },
      destroy: async (id) => store.destroy(id),
      async addPending(session, consent) {
        const s = store.get(session.id);
        if (!s) return randomId(); // signed out meanwhile: the answer will find nothing
        const id = randomId();
        for (const k of s.pending.keys()) {
          if (s.pending.size < MAX_PENDING) break;
          s.pending.delete(k);
        }
        s.pending.set(id, consent);
        return id;
      },
      async takePending(session, consentId) {
        const s = store.get(session.id);
        const p = s?.pending.get(consentId) ?? null;
        s?.pending.delete(consentId);
        return p;
      },
    },
    consents: {
      covers: async (u, c, scopes) => consents.covers(u, c, scopes),
      remember: async (u, c, scopes) => consents.remember(u, c, scopes),
      forget: async (u, c) => consents.forget(u, c),
    },
    counter(_name, maxFailures, windowMs, maxEntries) {
      const c = new FailureCounter(maxFailures, windowMs, maxEntries);
      return { retryAfter: async (k) => c.retryAfter(k), fail: async (k) => c.fail(k) };
    },
    loginKey: async () => keys,
    ping: async () => {},
    close: async () => {},
  };
}

/** A record key for a secret value (a session id): its digest, so the store never holds the cookie. */
function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

/** Sessions refresh their expiry at most this often (a write per request would be wasteful). */
const REFRESH_AFTER_MS = 60_000;

interface StoredSession {
  readonly csrf: string;
  readonly userId: string;
  readonly username: string;
  /** When its expiry was last moved (ms since the epoch). */
  readonly at: number;
  /** When the user signed in (ms since the epoch); missing from records written before the app kept it. */
  readonly signedInAt?: number;
}

/** A stored session's `signedInAt`, or `null` when the record has none (or not a valid time). */
function storedSignedInAt(value: unknown): number | null {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 && !Number.isNaN(new Date(value).getTime()) ? value : null;
}

/**
 * The state on a store every process reaches. Sessions are found by the digest of their id;
 * pending consents are records of their own, taken once; counters are the store's atomic counters.
 */
export function sharedState(kv: KeyValue & { purgeExpired?(batchSize: number): Promise<number> }, o: StateOptions): AppState {
  const ttl = o.sessionTtlMs;
  const sessionKey = (id: string) => `session:${digest(id)}`;
  const pendingKey = (sessionId: string, consentId: string) => `consent:${digest(`${sessionId} ${consentId}`)}`;
  const rememberedKey = (userId: string, clientId: string) => `remembered:${digest(JSON.stringify([userId, clientId]))}`;
  let keys: Promise<SharedLoginKeys> | null = null;
  let loginKeys: SharedLoginKeys | null = null;

  async function readSession(id: string): Promise<SignedIn | null> {
    const raw = await kv.get(sessionKey(id));
    if (raw === null) return null;
    const s = JSON.parse(raw) as StoredSession;
    const now = Date.now();
    if (now - s.at > REFRESH_AFTER_MS) await kv.set(sessionKey(id), JSON.stringify({ ...s, at: now }), ttl);
    return { id, csrf: s.csrf, userId: s.userId, username: s.username, signedInAt: storedSignedInAt(s.signedInAt) };
  }

  return {
    description: kv.description,
    sessions: {
      get: async (id) => (id ? readSession(id) : null),
      async signIn(previousId, userId, username) {
        if (previousId) await kv.delete(sessionKey(previousId));
        const now = Date.now();
        const s: SignedIn = { id: randomId(), csrf: randomId(), userId, username, signedInAt: now };
        const stored: StoredSession = { csrf: s.csrf, userId, username, at: now, signedInAt: now };
        await kv.set(sessionKey(s.id), JSON.stringify(stored), ttl);
        return s;
      },
      destroy: (id) => kv.delete(sessionKey(id)),
      async addPending(session, consent) {
        const id = randomId();
        await kv.set(pendingKey(session.id, id), JSON.stringify(consent), ttl);
        return id;
      },
      async takePending(session, consentId) {
        const raw = await kv.take(pendingKey(session.id, consentId));
        return raw === null ? null : (JSON.parse(raw) as PendingConsent);
      },
    },
    consents: {
      async covers(userId, clientId, scopes) {
        const raw = await kv.get(rememberedKey(userId, clientId));
        const granted = new Set(raw === null ? [] : (JSON.parse(raw) as string[]));
        return raw !== null && scopes.every((s) => granted.has(s));
      },
      async remember(userId, clientId, scopes) {
        const k = rememberedKey(userId, clientId);
        const raw = await kv.get(k);
        const granted = new Set(raw === null ? [] : (JSON.parse(raw) as string[]));
        for (const s of scopes) granted.add(s);
        await kv.set(k, JSON.stringify([...granted]), REMEMBERED_CONSENT_TTL_MS);
      },
      async forget(userId, clientId) {
        await kv.delete(rememberedKey(userId, clientId));
      },
    },
    counter(name, maxFailures, windowMs) {
      const k = (key: string) => `limit:${name}:${key}`;
      return {
        async retryAfter(key) {
          if (maxFailures <= 0) return 0;
          const c = await kv.counter(k(key));
          if (!c || c.count < maxFailures) return 0;
          return Math.max(1, Math.ceil((c.resetAt - Date.now()) / 1000));
        },
        async fail(key) {
          if (maxFailures > 0) await kv.increment(k(key), windowMs);
        },
      };
    },
    loginKey() {
      keys ??= (async () => {
        loginKeys = new SharedLoginKeys(kv, o.loginKeyRefreshMs ?? LOGIN_KEY_REFRESH_MS);
        return loginKeys.start();
      })().catch((err: unknown) => {
        loginKeys?.close();
        keys = null;
        throw err;
      });
      return keys;
    },
    ping: () => kv.ping(),
    ...(kv.purgeExpired ? { purgeExpired: (n: number) => kv.purgeExpired!(n) } : {}),
    async close() {
      loginKeys?.close();
      await kv.close();
    },
  };
}
