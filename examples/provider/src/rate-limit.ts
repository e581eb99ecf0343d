import { createHash } from 'node:crypto';
import type { AfterRequestHook, BeforeRequestHook, EndpointName, HookContext, OAuthRequest, OAuthResponse } from '@portcullis/core';
import { addressBucket } from './client-address.js';
import type { RateLimitConfig } from './config.js';
import type { AppState, Counter } from './state/app-state.js';

/**
 * Counts failures per key within a fixed window that starts at the key's first failure. Memory
 * is bounded: at most `maxEntries` keys are kept; when full, expired windows go first, then the
 * keys that failed least recently. A `maxFailures` of 0 (or less) turns the counter off.
 */
export class FailureCounter {
  private readonly entries = new Map<string, { count: number; resetAt: number }>();
  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
    private readonly maxEntries: number,
  ) {}

  /** Seconds until `key` may try again (a whole number, at least 1), or 0 when it is not blocked. */
  retryAfter(key: string, now = Date.now()): number {
    if (this.maxFailures <= 0) return 0;
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
    if (this.maxFailures <= 0) return;
    const e = this.entries.get(key);
    if (e) this.entries.delete(key); // re-inserted below: the young end is the most recent failure
    if (e && e.resetAt > now) {
      e.count++;
      this.entries.set(key, e);
      return;
    }
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

/**
 * A counter key for a value the sender chooses (client id, username): a fixed-length digest, so
 * that neither memory (a 60 KB "client id") nor the key text depends on what was sent.
 */
function idKey(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 22);
}

/** The counter key of an address: its bucket (IPv6 /64), or one shared key when it is unknown. */
function addressKey(ip: string | null): string {
  return ip === null ? '-' : addressBucket(ip);
}

/** A form parameter of the request body (first value), or `null`. */
function formParam(req: OAuthRequest, name: string): string | null {
  if (typeof req.body === 'string') return req.body.includes(`${name}=`) ? new URLSearchParams(req.body).get(name) : null;
  const v = req.parsedBody?.[name];
  return typeof v === 'string' ? v : null;
}

/** A 429 answer in the token endpoint's JSON error format, with `Retry-After` in whole seconds. */
export function tooManyResponse(seconds: number, description: string): OAuthResponse {
  const wait = String(Math.max(1, Math.ceil(seconds)));
  return {
    status: 429,
    headers: {
      'Content-Type': 'application/json;charset=UTF-8',
      'Cache-Control': 'no-store',
      Pragma: 'no-cache',
      'Retry-After': wait,
    },
    body: JSON.stringify({ error: 'temporarily_unavailable', error_description: `${description}; try again in ${wait} seconds` }),
  };
}

/** Endpoints where clients authenticate. */
const CLIENT_AUTH_ENDPOINTS: ReadonlySet<EndpointName> = new Set(['token', 'revocation', 'introspection']);

export interface ClientAuthRateLimit {
  readonly beforeRequest: BeforeRequestHook;
  readonly afterRequest: AfterRequestHook;
  /** Failures per (address, client id): the lockout (for tests and diagnostics). */
  readonly pairs: Counter;
  /** Failures per address, whatever client ids it names: the ceiling (for tests and diagnostics). */
  readonly addresses: Counter;
}

/**
 * The rate limit on failed client authentication, built on the provider's hooks, at the token,
 * revocation and introspection endpoints. An `invalid_client` answer counts one failure for the
 * pair (address, client id named) and one for the address. After `maxFailures` for a pair, that
 * address gets 429 (JSON, `Retry-After`) for that client id until the window ends; after
 * `maxFailuresPerIp` for an address, that address gets 429 for every client id.
 *
 * There is deliberately no count per client id alone: it would let anyone lock a client out for
 * every address by failing on purpose. Guessing a client secret from many addresses is what the
 * secrets' entropy is for (generated secrets carry 256 random bits).
 * @param clientIp the IP a request came from (the app knows it; the request object does not).
 * @param state where the counts are kept (this process's memory, or shared by every process).
 */
export function createClientAuthRateLimit(
  config: RateLimitConfig,
  clientIp: (req: OAuthRequest) => string | null,
  state: Pick<AppState, 'counter'>,
): ClientAuthRateLimit {
  const windowMs = config.windowSeconds * 1000;
  const pairs = state.counter('client-pair', config.maxFailures, windowMs, config.maxEntries);
  const addresses = state.counter('client-address', config.maxFailuresPerIp, windowMs, config.maxEntries);
  // The client id the request names, as core reads it (Basic user name, else `client_id`).
  const keys = (ctx: HookContext) => {
    const address = addressKey(clientIp(ctx.request));
    const id = ctx.claimedClientId();
    return { address, pair: id === null ? null : `${address} ${idKey(id)}` };
  };
  return {
    pairs,
    addresses,
    async beforeRequest(ctx) {
      if (!CLIENT_AUTH_ENDPOINTS.has(ctx.endpoint)) return undefined;
      const k = keys(ctx);
      const [a, p] = await Promise.all([addresses.retryAfter(k.address), k.pair === null ? 0 : pairs.retryAfter(k.pair)]);
      const wait = Math.max(a, p);
      return wait > 0 ? tooManyResponse(wait, 'Too many failed client authentications') : undefined;
    },
    async afterRequest(ctx, outcome) {
      if (!CLIENT_AUTH_ENDPOINTS.has(ctx.endpoint) || outcome.error !== 'invalid_client') return undefined;
      const k = keys(ctx);
      await Promise.all([addresses.fail(k.address), k.pair === null ? undefined : pairs.fail(k.pair)]);
      return undefined;
    },
  };
}

/**
 * The limit on failed sign-ins, on the login page and at the token endpoint's `password` grant:
 * per (address, username) `maxFailures`, per address `maxFailuresPerIp`, and per username from
 * all addresses together `maxSignInFailuresPerUser`. The last one stops guessing one user's
 * password from many addresses, at the price that anyone can make that user wait out one window.
 * Failures for unknown usernames count like the others, so 429 never tells which usernames exist.
 */
export class SignInLimit {
  /** Failures per (address, username). */
  readonly pairs: Counter;
  /** Failures per address. */
  readonly addresses: Counter;
  /** Failures per username. */
  readonly users: Counter;

  constructor(config: RateLimitConfig, state: Pick<AppState, 'counter'>) {
    const windowMs = config.windowSeconds * 1000;
    this.pairs = state.counter('signin-pair', config.maxFailures, windowMs, config.maxEntries);
    this.addresses = state.counter('signin-address', config.maxFailuresPerIp, windowMs, config.maxEntries);
    this.users = state.counter('signin-user', config.maxSignInFailuresPerUser, windowMs, config.maxEntries);
  }

  private keys(ip: string | null, username: string) {
    const address = addressKey(ip);
    // Folded, so `Alice` and `alice` share a count whatever collation the database compares with.
    const user = username === '' ? null : idKey(username.normalize('NFKC').toLowerCase());
    return { address, user, pair: user === null ? null : `${address} ${user}` };
  }

  /** Seconds until this address may try this username again, or 0. */
  async retryAfter(ip: string | null, username: string): Promise<number> {
    const k = this.keys(ip, username);
    const waits = await Promise.all([
      this.addresses.retryAfter(k.address),
      ...(k.user !== null ? [this.users.retryAfter(k.user), this.pairs.retryAfter(k.pair!)] : []),
    ]);
    return Math.max(...waits);
  }

  /** Records a failed sign-in. */
  async fail(ip: string | null, username: string): Promise<void> {
    const k = this.keys(ip, username);
    await Promise.all([this.addresses.fail(k.address), ...(k.user !== null ? [this.users.fail(k.user), this.pairs.fail(k.pair!)] : [])]);
  }
}

/**
 * The sign-in limit on the `password` grant (hooks on the token endpoint): a wrong username or
 * password there (`invalid_grant`) counts like a failed sign-in on the login page, and a throttled
 * (address, username) gets 429 before the password is checked.
 */
export function createPasswordGrantLimit(
  limit: SignInLimit,
  clientIp: (req: OAuthRequest) => string | null,
): { beforeRequest: BeforeRequestHook; afterRequest: AfterRequestHook } {
  const passwordGrant = (req: OAuthRequest) => formParam(req, 'grant_type') === 'password';
  return {
    async beforeRequest(ctx) {
      if (ctx.endpoint !== 'token' || !passwordGrant(ctx.request)) return undefined;
      const wait = await limit.retryAfter(clientIp(ctx.request), formParam(ctx.request, 'username') ?? '');
      return wait > 0 ? tooManyResponse(wait, 'Too many failed sign-ins') : undefined;
    },
    async afterRequest(ctx, outcome) {
      if (ctx.endpoint !== 'token' || outcome.grantType !== 'password' || outcome.error !== 'invalid_grant') return undefined;
      await limit.fail(clientIp(ctx.request), formParam(ctx.request, 'username') ?? '');
      return undefined;
    },
  };
}
