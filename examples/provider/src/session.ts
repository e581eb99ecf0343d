import { randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Browser sessions, kept in process memory and keyed by a random id in an HttpOnly cookie.
 * Fine for one process and for the example: sessions are lost on restart and not shared between
 * processes. A deployment with several processes would keep them in Redis or the database (or
 * use a signed cookie) instead.
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
  /** Consent pages shown and not yet answered, by consent id (a few at most). */
  readonly pending: Map<string, PendingConsent>;
  /** Free-form data of the demo client. */
  data: Record<string, unknown>;
  /** Idle deadline (ms since the epoch). */
  deadline: number;
}

const MAX_PENDING = 10;

/** A bounded map of sessions: the least recently used go first when full. */
export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  constructor(
    private readonly ttlMs: number,
    private readonly max = 10_000,
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

  /** A new, empty session. */
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
      pending: new Map(),
      data: {},
      deadline: Date.now() + this.ttlMs,
    };
    this.sessions.set(s.id, s);
    return s;
  }

  /** Replaces a session by a fresh one with a new id and CSRF token (on sign-in: no fixation). */
  rotate(old: Session): Session {
    this.sessions.delete(old.id);
    return this.create();
  }

  destroy(id: string): void {
    this.sessions.delete(id);
  }

  get size(): number {
    return this.sessions.size;
  }
}

/** Remembers a pending consent, dropping the oldest when a session has too many. */
export function addPending(session: Session, consent: PendingConsent): string {
  const id = randomId();
  for (const key of session.pending.keys()) {
    if (session.pending.size < MAX_PENDING) break;
    session.pending.delete(key);
  }
  session.pending.set(id, consent);
  return id;
}

/** 32 random bytes, base64url. */
export function randomId(): string {
  return randomBytes(32).toString('base64url');
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
