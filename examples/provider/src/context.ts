import type { IncomingMessage, ServerResponse } from 'node:http';
import type { OAuth2Provider, OAuthRequest } from '@portcullis/core';
import { clientAddress } from './client-address.js';
import type { AppConfig } from './config.js';
import { errorPage } from './html.js';
import { addCookie, readRequest, sendHtml } from './http-util.js';
import type { AppLogger } from './log.js';
import type { SignInLimit } from './rate-limit.js';
import type { LoginCsrf } from './session.js';
import { parseCookies, serializeCookie, tokensMatch } from './session.js';
import type { AppState, SignedIn } from './state/app-state.js';
import type { Storage } from './storage.js';

/** What the app knows about a request beyond `OAuthRequest` (the hooks read it). */
export interface RequestInfo {
  /** The client's address (see `clientAddress`): a well-formed IP address or `null`. */
  readonly ip: string | null;
  /** The client id to log: only one that authenticated or is known to exist (see `noteClient`). */
  clientId: string | null;
}

/** One request as the route groups see it. */
export interface RouteRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly info: RequestInfo;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly method: string;
}

/** A group of routes: answers the request and returns `true`, or returns `false` (not one of its paths). */
export type RouteGroup = (r: RouteRequest) => Promise<boolean>;

export const SESSION_COOKIE = 'pc_session';
/** The login form's CSRF cookie (a nonce; see `LoginCsrf`), sent back to `/login` only. */
export const LOGIN_COOKIE = 'pc_login';

/** What the route groups share: the provider, the stores, and the helpers for pages and forms. */
export interface AppContext {
  readonly config: AppConfig;
  readonly issuer: string;
  /** `true` when the issuer is https: cookies are `Secure`. */
  readonly secure: boolean;
  readonly provider: OAuth2Provider;
  readonly storage: Storage;
  readonly logger: AppLogger;
  /** Sessions, pending and remembered consents, failure counts: in memory or shared (`STATE_STORE`). */
  readonly state: AppState;
  readonly loginCsrf: LoginCsrf;
  readonly signInLimit: SignInLimit;
  /** The sign-in session a request's `Cookie` header names, or `null`. */
  sessionOf(cookieHeader: string | string[] | undefined): Promise<SignedIn | null>;
  /** Sets the session cookie for `s` and returns it. */
  startSession(res: ServerResponse, s: SignedIn): SignedIn;
  /** Forms must come from this site (see `sameOrigin` in `createContext`). */
  sameOrigin(req: IncomingMessage): boolean;
  /** The client's address: the socket peer, or the trusted proxies' `X-Forwarded-For` entry. */
  ipOf(req: IncomingMessage): string | null;
  /**
   * Converts a request with core's node adapter, which reads a form body up to `bodyLimit` (core's
   * default when omitted), and remembers `info` for the hooks. `null` when the body could not be
   * read: the answer (413 when too large, else 400) has been sent, as a page or as JSON.
   */
  oauthRequest(
    req: IncomingMessage,
    res: ServerResponse,
    info: RequestInfo,
    as: 'page' | 'json',
    bodyLimit?: number,
  ): Promise<OAuthRequest | null>;
  /** The `RequestInfo` of a request converted by `oauthRequest`. */
  infoOf(req: OAuthRequest): RequestInfo | undefined;
  /** 403 for a form that could not be verified. */
  forbidden(res: ServerResponse): void;
  /** The fields of a form body. */
  formOf(oreq: OAuthRequest): URLSearchParams;
}

export interface ContextParts {
  config: AppConfig;
  issuer: string;
  /** Where the app listens (its own origin is accepted by `sameOrigin` too). */
  url: string;
  provider: OAuth2Provider;
  storage: Storage;
  logger: AppLogger;
  state: AppState;
  loginCsrf: LoginCsrf;
  signInLimit: SignInLimit;
  infos: WeakMap<OAuthRequest, RequestInfo>;
}

export function createContext(p: ContextParts): AppContext {
  const { config, issuer, state } = p;
  const secure = issuer.startsWith('https:');
  const issuerOrigin = new URL(issuer).origin;
  const localOrigin = new URL(p.url).origin;
  return {
    config,
    issuer,
    secure,
    provider: p.provider,
    storage: p.storage,
    logger: p.logger,
    state,
    loginCsrf: p.loginCsrf,
    signInLimit: p.signInLimit,
    sessionOf: (cookieHeader) => state.sessions.get(parseCookies(cookieHeader)[SESSION_COOKIE]),
    startSession(res, s) {
      addCookie(res, serializeCookie(SESSION_COOKIE, s.id, { path: '/', secure }));
      return s;
    },
    /**
     * Browsers that send `Sec-Fetch-Site` say so directly; others may send `Origin` (`null` under
     * `Referrer-Policy: no-referrer`). The CSRF token is checked too.
     */
    sameOrigin(req) {
      const site = req.headers['sec-fetch-site'];
      if (typeof site === 'string') return site === 'same-origin';
      const origin = req.headers.origin;
      return origin === undefined || origin === 'null' || origin === issuerOrigin || origin === localOrigin;
    },
    ipOf: (req) => clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], config.trustProxy),
    async oauthRequest(req, res, info, as, bodyLimit) {
      const oreq = await readRequest(req, res, as, bodyLimit);
      if (oreq) p.infos.set(oreq, info);
      return oreq;
    },
    infoOf: (oreq) => p.infos.get(oreq),
    forbidden(res) {
      sendHtml(
        res,
        403,
        errorPage({
          title: 'Forbidden',
          error: 'invalid_csrf_token',
          description: 'The form could not be verified. Reload the page and try again.',
        }),
      );
    },
    formOf: (oreq) => new URLSearchParams(typeof oreq.body === 'string' ? oreq.body : ''),
  };
}

/** Reads a form posted by a signed-in user's page and checks the session's CSRF token and origin. */
export async function verifiedForm(ctx: AppContext, req: IncomingMessage, res: ServerResponse, info: RequestInfo, bodyLimit: number) {
  const oreq = await ctx.oauthRequest(req, res, info, 'page', bodyLimit);
  if (!oreq) return null;
  const form = ctx.formOf(oreq);
  const s = await ctx.sessionOf(req.headers.cookie);
  if (!s || !ctx.sameOrigin(req) || !tokensMatch(form.get('csrf'), s.csrf)) {
    ctx.forbidden(res);
    return null;
  }
  return { oreq, form, session: s };
}
