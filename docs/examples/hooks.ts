/**
 * Hooks: a rate limit and a block list before the endpoints run, an audit trail and a veto after.
 * Guide: docs/hooks.md.
 */
import {
  type AfterRequestHook,
  type BeforeRequestHook,
  errorResponse,
  InvalidClientError,
  OAuth2Provider,
  type OAuthResponse,
  type Stores,
  UnauthorizedClientError,
} from '@portcullis/core';

/** At most `limit` token requests per claimed client id per window; answers 429 past it. */
export function tokenRateLimit(limit: number, windowMs: number): BeforeRequestHook {
  const windows = new Map<string, { start: number; count: number }>();
  return (ctx) => {
    if (ctx.endpoint !== 'token') return undefined;
    const id = ctx.claimedClientId() ?? `ip:${ctx.request.remoteAddress ?? '?'}`;
    const now = Date.now();
    const w = windows.get(id);
    if (!w || now - w.start >= windowMs) {
      if (windows.size >= 10_000) windows.clear(); // bounded memory
      windows.set(id, { start: now, count: 1 });
      return undefined;
    }
    if (++w.count <= limit) return undefined;
    const tooMany: OAuthResponse = {
      status: 429,
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store', 'retry-after': String(Math.ceil(windowMs / 1000)) },
      body: JSON.stringify({ error: 'slow_down', error_description: 'Too many requests' }),
    };
    return tooMany;
  };
}

/** Refuses every request naming a blocked client, before any store is asked. */
export function blockClients(blocked: ReadonlySet<string>): BeforeRequestHook {
  return (ctx) => {
    const id = ctx.claimedClientId();
    if (id !== null && blocked.has(id)) throw new InvalidClientError('This client is blocked');
    return undefined;
  };
}

/** One line per request, whatever the outcome; never the tokens themselves. */
export interface AuditLine {
  endpoint: string;
  valid: boolean;
  error: string | null;
  clientId: string | null;
  userId: string | null;
  grantType: string | null;
  status: number | null;
}

export function audit(lines: AuditLine[]): AfterRequestHook {
  return (ctx, outcome) => {
    const { valid, error, clientId, userId, grantType, response } = outcome;
    lines.push({ endpoint: ctx.endpoint, valid, error, clientId, userId, grantType, status: response?.status ?? null });
    return undefined;
  };
}

/**
 * Vetoes tokens for a client suspended while its request was running (say, by an admin in another
 * process): the response is replaced, and core revokes the tokens the request issued.
 */
export function vetoSuspended(isSuspended: (clientId: string) => Promise<boolean>): AfterRequestHook {
  return async (ctx, outcome) => {
    if (ctx.endpoint !== 'token' || !outcome.valid || outcome.clientId === null) return undefined;
    if (!(await isSuspended(outcome.clientId))) return undefined;
    return errorResponse(new UnauthorizedClientError('This client is suspended'));
  };
}

export interface HookedProviderOptions {
  stores: Stores;
  blocked: ReadonlySet<string>;
  suspended: (clientId: string) => Promise<boolean>;
  auditLines: AuditLine[];
}

export function createHookedProvider(o: HookedProviderOptions): OAuth2Provider {
  const provider = new OAuth2Provider({
    issuer: 'https://auth.example',
    stores: o.stores,
    // Given here, or added later with provider.beforeRequest(fn) / provider.afterRequest(fn).
    hooks: { beforeRequest: [blockClients(o.blocked), tokenRateLimit(5, 60_000)] },
  });
  provider.afterRequest(vetoSuspended(o.suspended));
  provider.afterRequest(audit(o.auditLines)); // runs after the veto: it sees the replaced response
  return provider;
}
