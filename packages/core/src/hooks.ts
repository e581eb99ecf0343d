/**
 * Hooks: their types and the runner the provider uses. A hook may answer early (`beforeRequest`)
 * or replace the answer (`afterRequest`); an `OAuthError` it throws is answered as that error,
 * anything else it throws is logged and answered 500 `server_error`.
 */
import type { OAuthErrorCode } from './errors.js';
import { isOAuthError, toOAuthError } from './errors.js';
import type { OAuthRequest, OAuthResponse } from './http.js';
import type { Logger } from './log.js';
import { describe } from './log.js';
import { errorResponse } from './responses.js';

/** Names of the endpoints, used in hook contexts. A closed union. */
export type EndpointName =
  | 'authorize'
  | 'authorize_decision'
  | 'token'
  | 'revocation'
  | 'introspection'
  | 'metadata'
  | 'resource'
  | 'device_authorization'
  | 'pushed_authorization_request'
  | 'registration';

/** What every hook is told about the request. */
export interface HookContext {
  readonly endpoint: EndpointName;
  readonly request: OAuthRequest;
  /**
   * The client id the request names (HTTP Basic user name, else `client_id` from the form body or
   * the query string), parsed once on first use. Claimed, not proven: `beforeRequest` runs before
   * client authentication. `null` when the request names none.
   */
  readonly claimedClientId: () => string | null;
}

/** What `afterRequest` is told about the outcome. */
export interface HookOutcome {
  /** `true` when the endpoint accepted the request (tokens issued, token valid, consent to show). */
  readonly valid: boolean;
  /** The OAuth error code when `valid` is false. */
  readonly error: OAuthErrorCode | null;
  /**
   * The client id: the authenticated client's when authentication succeeded, else the one the
   * request claimed (also set when client authentication failed).
   */
  readonly clientId: string | null;
  /** The user the request acted for, when known (tokens issued for a user, a user's token checked). */
  readonly userId: string | null;
  /** `grant_type` at the token endpoint. */
  readonly grantType: string | null;
  /** Scopes granted or held (token issued, resource checked). */
  readonly scopes: readonly string[] | null;
  /** The response about to be sent, or `null` when the authorization endpoint hands over to consent. */
  readonly response: OAuthResponse | null;
}

/**
 * Runs before an endpoint does anything. Return a response (e.g. 403 or 429) to answer early;
 * return nothing to go on. Throwing an `OAuthError` (e.g. `new AccessDeniedError()`) answers with
 * that error, as Flask-OAuthlib's `abort(403)` would.
 */
export type BeforeRequestHook = (ctx: HookContext) => OAuthResponse | undefined | Promise<OAuthResponse | undefined>;

/**
 * Runs after an endpoint decided. Return a response to replace the one about to be sent: for a
 * valid request this vetoes it (tokens it issued are revoked); for an invalid one only another
 * error response (status 400 or more) is taken, so a hook can never make an invalid request valid.
 * Throwing an `OAuthError` answers with that error.
 */
export type AfterRequestHook = (ctx: HookContext, outcome: HookOutcome) => OAuthResponse | undefined | Promise<OAuthResponse | undefined>;

/** The hooks of one provider, run in the order they were added. */
export class Hooks {
  readonly before: BeforeRequestHook[] = [];
  readonly after: AfterRequestHook[] = [];
  constructor(private readonly logger: () => Logger) {}

  /** `true` when no hook at all is registered (hot paths then skip every promise). */
  get none(): boolean {
    return this.before.length === 0 && this.after.length === 0;
  }

  /** Runs the `beforeRequest` hooks; without hooks it costs no promise. */
  runBefore(ctx: HookContext): Promise<OAuthResponse | undefined> | undefined {
    return this.before.length === 0 ? undefined : this.callBefore(ctx);
  }

  /** Runs the `afterRequest` hooks; without hooks it costs no promise. */
  runAfter(ctx: HookContext, outcome: HookOutcome): Promise<OAuthResponse | undefined> | undefined {
    return this.after.length === 0 ? undefined : this.callAfter(ctx, outcome);
  }

  private async callBefore(ctx: HookContext): Promise<OAuthResponse | undefined> {
    for (const hook of this.before) {
      try {
        const r = await hook(ctx);
        if (r) return r;
      } catch (err) {
        return this.thrown('beforeRequest', ctx, err);
      }
    }
    return undefined;
  }

  private async callAfter(ctx: HookContext, outcome: HookOutcome): Promise<OAuthResponse | undefined> {
    let replaced: OAuthResponse | undefined;
    for (const hook of this.after) {
      let r: OAuthResponse | undefined;
      try {
        r = await hook(ctx, replaced ? { ...outcome, response: replaced } : outcome);
      } catch (err) {
        r = this.thrown('afterRequest', ctx, err);
      }
      // A hook may veto a valid request; it can never turn an invalid one into a success.
      if (r && (outcome.valid || r.status >= 400)) replaced = r;
    }
    return replaced;
  }

  /**
   * An `OAuthError` a hook threw is its answer. Anything else is logged and answered as a store
   * failure would be: 503 `temporarily_unavailable` when it says a store cannot be reached (a
   * `StoreUnavailableError` or a socket error in its cause chain: a hook's own rate-limit store
   * restarting), else 500 `server_error`.
   */
  private thrown(which: string, ctx: HookContext, err: unknown): OAuthResponse {
    if (isOAuthError(err)) return errorResponse(err);
    this.logger().error(`${which} hook failed at ${ctx.endpoint}`, { cause: describe(err) });
    return errorResponse(toOAuthError(err));
  }
}
