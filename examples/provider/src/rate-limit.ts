import type { AfterRequestHook, BeforeRequestHook, EndpointName, OAuthRequest, OAuthResponse } from '@portcullis/core';
import type { RateLimitConfig } from './config.js';

/**
 * Counts failures per key within a fixed window that starts at the key's first failure. Memory
 * is bounded: at most `maxEntries` keys are kept; when full, expired windows go first, then the
 * oldest keys.
 */
export class FailureCounter {
  private readonly entries = new Map<string, { count: number; resetAt: number }>();
  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
    private readonly maxEntries: number,
  ) {}

  /** Seconds until `key` may try again, or 0 when it is not blocked. */
  retryAfter(key: string, now = Date.now()): number {
    const e = this.entries.get(key);
    if (!e) return 0;
    if (e.resetAt <= now) {
      this.entries.delete(key);
      return 0;
    }
    return e.count >= this.maxFailures ? Math.max(1, Math.ceil((e.resetAt - now) / 1000)) : 0;
  }

  /** Records one failure for `key`. */
  fail(key: string, now = Date.now()): void {
    const e = this.entries.get(key);
    if (e && e.resetAt > now) {
      e.count++;
      return;
    }
    if (e) this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) {
      for (const [k, v] of this.entries) if (v.resetAt <= now) this.entries.delete(k);
      for (const k of this.entries.keys()) {
        if (this.entries.size < this.maxEntries) break;
        this.entries.delete(k);
      }
    }
    this.entries.set(key, { count: 1, resetAt: now + this.windowMs });
  }

  /** Keys tracked now (never more than `maxEntries`). */
  get size(): number {
    return this.entries.size;
  }
}

/** Endpoints where clients authenticate. */
const CLIENT_AUTH_ENDPOINTS: ReadonlySet<EndpointName> = new Set(['token', 'revocation', 'introspection']);

/** The client id a request names (Basic credentials or `client_id` in the form body), or `null`. */
export function claimedClientId(req: OAuthRequest): string | null {
  const auth = req.headers.authorization;
  const h = typeof auth === 'string' ? auth : auth?.[0];
  if (h && /^basic\s/i.test(h)) {
    const raw = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
    const colon = raw.indexOf(':');
    if (colon > 0) {
      try {
        return decodeURIComponent(raw.slice(0, colon).replace(/\+/g, ' '));
      } catch {
        return null;
      }
    }
    return null;
  }
  if (typeof req.body === 'string' && req.body.includes('client_id=')) {
    return new URLSearchParams(req.body).get('client_id');
  }
  return null;
}

function tooMany(seconds: number): OAuthResponse {
  return {
    status: 429,
    headers: {
      'Content-Type': 'application/json;charset=UTF-8',
      'Cache-Control': 'no-store',
      Pragma: 'no-cache',
      'Retry-After': String(seconds),
    },
    body: JSON.stringify({
      error: 'temporarily_unavailable',
      error_description: `Too many failed client authentications; try again in ${seconds} seconds`,
    }),
  };
}

export interface ClientAuthRateLimit {
  readonly beforeRequest: BeforeRequestHook;
  readonly afterRequest: AfterRequestHook;
  /** The counter, for tests and diagnostics. */
  readonly counter: FailureCounter;
}

/**
 * The rate limit on failed client authentication, built on the provider's hooks: after
 * `maxFailures` answers of `invalid_client` within the window for one IP, or for one client id,
 * the token, revocation and introspection endpoints answer 429 (JSON, `Retry-After`) to that IP
 * or client id until the window ends. Counting per client id stops guessing from many IPs, at
 * the price that someone can lock a client out for a window by failing on purpose.
 * @param clientIp the IP a request came from (the app knows it; the request object does not).
 */
export function createClientAuthRateLimit(config: RateLimitConfig, clientIp: (req: OAuthRequest) => string | null): ClientAuthRateLimit {
  const counter = new FailureCounter(config.maxFailures, config.windowSeconds * 1000, config.maxEntries);
  const keys = (req: OAuthRequest, knownClientId: string | null): string[] => {
    const out: string[] = [];
    const ip = clientIp(req);
    if (ip) out.push(`ip ${ip}`);
    const id = knownClientId ?? claimedClientId(req);
    if (id) out.push(`client ${id}`);
    return out;
  };
  return {
    counter,
    beforeRequest(ctx) {
      if (config.maxFailures === 0 || !CLIENT_AUTH_ENDPOINTS.has(ctx.endpoint)) return undefined;
      let wait = 0;
      for (const k of keys(ctx.request, null)) wait = Math.max(wait, counter.retryAfter(k));
      return wait > 0 ? tooMany(wait) : undefined;
    },
    afterRequest(ctx, outcome) {
      if (config.maxFailures === 0 || !CLIENT_AUTH_ENDPOINTS.has(ctx.endpoint)) return undefined;
      if (outcome.error === 'invalid_client') for (const k of keys(ctx.request, outcome.clientId)) counter.fail(k);
      return undefined;
    },
  };
}
