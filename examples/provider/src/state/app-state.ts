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
import { MAX_PENDING, type PendingConsent, randomId, SessionStore } from '../session.js';
import type { KeyValue } from './key-value.js';

/** A signed-in user's session. */
export interface SignedIn {
  readonly id: string;
  /** The CSRF token every form of this session carries. */
  readonly csrf: string;
  readonly userId: string;
  readonly username: string;
}

export interface SessionState {
  /** The live session with this id (its idle deadline moves on), or `null`. */
  get(id: string | undefined): Promise<SignedIn | null>;
  /** A new session with a new id and CSRF token; the browser's previous one, if any, ends. */
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
  /** The key login-form CSRF tokens are derived with: the same in every process sharing the state. */
  loginKey(): Promise<Buffer>;
  /** One cheap round trip to the shared store (nothing for memory). */
  ping(): Promise<void>;
  /** Deletes up to `batchSize` expired records, for stores that do not expire them themselves (SQL). */
  purgeExpired?(batchSize: number): Promise<number>;
  close(): Promise<void>;
}

export interface StateOptions {
  /** Idle lifetime of a session, ms. */
  readonly sessionTtlMs: number;
  /** Most sessions kept in memory (the memory state only). */
  readonly sessionMaxEntries: number;
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
}

/** The state in this process's memory (one process). */
export function memoryState(o: StateOptions): AppState {
  const store = new SessionStore(o.sessionTtlMs, o.sessionMaxEntries);
  const consents = new ConsentMemory();
  const key = randomBytes(32);
  const signedIn = (id: string | undefined) => {
    const s = store.get(id);
    return s?.userId ? s : null;
  };
  return {
    description: 'memory',
    sessions: {
      get: async (id) => {
        const s = signedIn(id);
        return s ? { id: s.id, csrf: s.csrf, userId: s.userId!, username: s.username ?? s.userId! } : null;
      },
      async signIn(previousId, userId, username) {
        const s = store.signIn(previousId ? store.get(previousId) : null, userId, username);
        return { id: s.id, csrf: s.csrf, userId, username };
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
    },
    counter(_name, maxFailures, windowMs, maxEntries) {
      const c = new FailureCounter(maxFailures, windowMs, maxEntries);
      return { retryAfter: async (k) => c.retryAfter(k), fail: async (k) => c.fail(k) };
    },
    loginKey: async () => key,
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
  let key: Promise<Buffer> | null = null;

  async function readSession(id: string): Promise<SignedIn | null> {
    const raw = await kv.get(sessionKey(id));
    if (raw === null) return null;
    const s = JSON.parse(raw) as StoredSession;
    const now = Date.now();
    if (now - s.at > REFRESH_AFTER_MS) await kv.set(sessionKey(id), JSON.stringify({ ...s, at: now }), ttl);
    return { id, csrf: s.csrf, userId: s.userId, username: s.username };
  }

  return {
    description: kv.description,
    sessions: {
      get: async (id) => (id ? readSession(id) : null),
      async signIn(previousId, userId, username) {
        if (previousId) await kv.delete(sessionKey(previousId));
        const s: SignedIn = { id: randomId(), csrf: randomId(), userId, username };
        const stored: StoredSession = { csrf: s.csrf, userId, username, at: Date.now() };
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
      key ??= (async () => {
        // The first process to start writes it; every other one reads it.
        await kv.add('login-csrf-key', randomBytes(32).toString('base64url'), 10 * 365 * 86400_000);
        const v = await kv.get('login-csrf-key');
        if (v === null) throw new Error('the login CSRF key could not be read back');
        return Buffer.from(v, 'base64url');
      })().catch((err: unknown) => {
        key = null;
        throw err;
      });
      return key;
    },
    ping: () => kv.ping(),
    ...(kv.purgeExpired ? { purgeExpired: (n: number) => kv.purgeExpired!(n) } : {}),
    close: () => kv.close(),
  };
}
