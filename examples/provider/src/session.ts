import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Browser sessions keyed by a random id in an HttpOnly cookie. `SessionStore` keeps them in process
 * memory (the demo client's sessions, and the provider's with `STATE_STORE=memory`); with
 * `STATE_STORE=shared` the provider's live in Redis or the database (see `state/app-state.ts`).
 *
 * The provider creates a session only when a user signs in; the login form of an anonymous
 * visitor is protected by `LoginCsrf` (a cookie and a token derived from it), which keeps nothing
 * on the server. So a flood of anonymous requests cannot fill the store and push signed-in users
 * out of it.
 */

/** An authorization request waiting for the user's decision. */
export interface PendingConsent {
  /** The validated request's parameters, handed back to `completeAuthorization`. */
  readonly query: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
}

export interface Session {
  readonly id: string;
  /** The CSRF token every form of this session carries. */
  readonly csrf: string;
  userId: string | null;
  username: string | null;
  /**
   * When the user signed in (ms since the epoch), set by `signIn` and kept for the session's
   * lifetime: the `authTime` of the decisions made in it. `null` before sign-in (the demo client's
   * sessions).
   */
  signedInAt: number | null;
  /** Consent pages shown and not yet answered, by consent id (a few at most). */
  readonly pending: Map<string, PendingConsent>;
  /** Free-form data of the demo client. */
  data: Record<string, unknown>;
  /** Idle deadline (ms since the epoch). */
  deadline: number;
}

/** Most consent pages one session keeps waiting (the oldest goes first). */
export const MAX_PENDING = 10;
/** Most sessions one user keeps (signing in once more drops that user's least recently used). */
export const MAX_SESSIONS_PER_USER = 20;

/** A bounded map of sessions: the least recently used go first when full. */
export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  constructor(
    private readonly ttlMs: number,
    private readonly max = 10_000,
    private readonly maxPerUser = MAX_SESSIONS_PER_USER,
  ) {}

  /** The live session with this id (refreshing its deadline), or `null`. */
  get(id: string | undefined): Session | null {
    if (!id) return null;
    const s = this.sessions.get(id);
    if (!s) return null;
    const now = Date.now();
    if (s.deadline <= now) {
      this.sessions.delete(id);
      return null;
    }
    s.deadline = now + this.ttlMs;
    this.sessions.delete(id); // move to the young end
    this.sessions.set(id, s);
    return s;
  }

  /** A new, empty session (the demo client's; the provider's sessions come from `signIn`). */
  create(): Session {
    if (this.sessions.size >= this.max) {
      const now = Date.now();
      for (const [id, s] of this.sessions) if (s.deadline <= now) this.sessions.delete(id);
      for (const id of this.sessions.keys()) {
        if (this.sessions.size < this.max) break;
        this.sessions.delete(id);
      }
    }
    const s: Session = {
      id: randomId(),
      csrf: randomId(),
      userId: null,
      username: null,
      signedInAt: null,
      pending: new Map(),
      data: {},
      deadline: Date.now() + this.ttlMs,
    };
    this.sessions.set(s.id, s);
    return s;
  }

  /**
   * A new signed-in session with a new id and CSRF token (no fixation), signed in now
   * (`signedInAt`); the browser's previous session, if any, ends. A user holding `maxPerUser`
   * sessions loses the least recently used, so one account signing in over and over cannot push
   * other users out either.
   */
  signIn(previous: Session | null, userId: string, username: string): Session {
    if (previous) this.sessions.delete(previous.id);
    const mine: string[] = [];
    for (const [id, s] of this.sessions) if (s.userId === userId) mine.push(id); // oldest first
    for (let i = 0; i <= mine.length - this.maxPerUser; i++) this.sessions.delete(mine[i]!);
    const s = this.create();
    s.userId = userId;
    s.username = username;
    s.signedInAt = Date.now();
    return s;
  }

  destroy(id: string): void {
    this.sessions.delete(id);
  }

  get size(): number {
    return this.sessions.size;
  }
}

/** 32 random bytes, base64url. */
export function randomId(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The login form's CSRF keys as one process knows them right now (read synchronously on every
 * login page and sign-in).
 */
export interface LoginKeys {
  /** The key new tokens are derived with. */
  current(): Buffer;
  /** The keys a presented token is checked against: the current one first, then keys it replaced less than `the grace period (`LOGIN_KEY_GRACE_MS` of the shared state)` ago. */
  accepted(): readonly Buffer[];
}

/** A fixed key (the memory state: one process). */
export function fixedLoginKeys(key: Buffer): LoginKeys {
  const list = [key];
  return { current: () => key, accepted: () => list };
}

const NONCE = /^[A-Za-z0-9_-]{43}$/;

/**
 * CSRF protection for the login form without a server-side session: the browser holds a random
 * nonce in an HttpOnly cookie, and the form carries HMAC(key, nonce) under a key only this process
 * knows. Another site can neither read the cookie nor compute the token for it, so it cannot post
 * the form (login CSRF); and nothing is stored per visitor.
 */
export class LoginCsrf {
  private readonly keys: LoginKeys;
  /**
   * @param keys the HMAC key, or the keys as they change (processes sharing their state share
   *   them, see `AppState.loginKey`): tokens are made with the current key and checked against
   *   every accepted one.
   */
  constructor(keys: Buffer | LoginKeys = randomBytes(32)) {
    this.keys = Buffer.isBuffer(keys) ? fixedLoginKeys(keys) : keys;
  }

  /** The cookie's nonce when it has the right shape, else a new one (and `fresh`: set the cookie). */
  nonce(cookie: string | undefined): { nonce: string; fresh: boolean } {
    return cookie !== undefined && NONCE.test(cookie) ? { nonce: cookie, fresh: false } : { nonce: randomId(), fresh: true };
  }

  /** The form token for a nonce. */
  token(nonce: string): string {
    return tokenWith(this.keys.current(), nonce);
  }

  /**
   * `true` when `presented` is the token for the cookie's nonce under an accepted key
   * (constant-time comparison with each).
   */
  verify(cookie: string | undefined, presented: unknown): boolean {
    if (cookie === undefined || !NONCE.test(cookie)) return false;
    let ok = false;
    for (const key of this.keys.accepted()) ok = tokensMatch(presented, tokenWith(key, cookie)) || ok;
    return ok;
  }
}

function tokenWith(key: Buffer, nonce: string): string {
  return createHmac('sha256', key).update(`login-csrf:${nonce}`).digest('base64url');
}

/** Constant-time comparison of a presented CSRF token (or state) with the expected one. */
export function tokensMatch(presented: unknown, expected: string): boolean {
  if (typeof presented !== 'string') return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Cookies of a request (the first value of each name wins). */
export function parseCookies(header: string | string[] | undefined): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  const text = Array.isArray(header) ? header.join('; ') : header;
  if (!text) return out;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    const name = part.slice(0, eq).trim();
    if (name in out) continue;
    let v = part.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    try {
      out[name] = decodeURIComponent(v);
    } catch {
      out[name] = v;
    }
  }
  return out;
}

export interface CookieOptions {
  path: string;
  secure: boolean;
  /** Seconds; 0 deletes the cookie; omitted makes a browser-session cookie. */
  maxAge?: number;
}

/** A `Set-Cookie` value: always HttpOnly and `SameSite=Lax`, `Secure` when the issuer is https. */
export function serializeCookie(name: string, value: string, o: CookieOptions): string {
  let c = `${name}=${encodeURIComponent(value)}; Path=${o.path}; HttpOnly; SameSite=Lax`;
  if (o.maxAge !== undefined) c += `; Max-Age=${o.maxAge}`;
  if (o.secure) c += '; Secure';
  return c;
}
