import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  type AfterRequestHook,
  type Client,
  type CurrentUser,
  hashPassword,
  type NodeRequest,
  OAuth2Provider,
  type OAuthRequest,
  type OAuthResponse,
  requireOAuth,
  sendResponse,
  verifySecret,
} from '@portcullis/core';
import { clientAddress } from './client-address.js';
import type { AppConfig } from './config.js';
import { createDemoClient, DEMO_CLIENT_ID, DEMO_SCOPES } from './demo.js';
import { openGrantCache } from './grant-cache.js';
import { consentPage, ERROR_TEXT, errorPage, homePage, knownErrorCode, loginPage, STYLESHEET } from './html.js';
import { addCookie, PAGE_FORM_LIMIT, readRequest, redirect, SECURITY_HEADERS, sendHtml, sendJson, splitUrl } from './http-util.js';
import { type AppLogger, createLogger, describeError, type LogSink, pathOnly } from './log.js';
import { type ClientAuthRateLimit, createClientAuthRateLimit, createPasswordGrantLimit, SignInLimit } from './rate-limit.js';
import { applySeed, loadSeedFile } from './seed.js';
import { addPending, LoginCsrf, parseCookies, randomId, type Session, SessionStore, serializeCookie, tokensMatch } from './session.js';
import { openStorage, type Storage } from './storage.js';

export interface AppOptions {
  /** Where JSON log lines go. Default: stdout. */
  log?: LogSink;
}

/** The demo user, as created (or found) at start. */
export interface DemoUser {
  readonly username: string;
  readonly subject: string;
  /** The generated password when the user was created by this start, else `null` (it was shown before). */
  readonly password: string | null;
}

/** A running app. */
export interface App {
  readonly server: Server;
  /** Where it listens, as a loopback URL (`http://127.0.0.1:<port>`). */
  readonly url: string;
  readonly issuer: string;
  readonly provider: OAuth2Provider;
  readonly storage: Storage;
  readonly demoUser: DemoUser | null;
  readonly rateLimit: ClientAuthRateLimit;
  /** The limit on failed sign-ins (login page and `password` grant). */
  readonly signInLimit: SignInLimit;
  readonly logger: AppLogger;
  /** Stops accepting requests and closes the database and grant cache. */
  close(): Promise<void>;
}

/** What the app knows about a request beyond `OAuthRequest` (the hooks read it). */
interface RequestInfo {
  /** The client's address (see `clientAddress`): a well-formed IP address or `null`. */
  readonly ip: string | null;
  /** The client id to log: only one that authenticated or is known to exist (see `noteClient`). */
  clientId: string | null;
}

const SESSION_COOKIE = 'pc_session';
/** The login form's CSRF cookie (a nonce; see `LoginCsrf`), sent back to `/login` only. */
const LOGIN_COOKIE = 'pc_login';
export const DEMO_USERNAME = 'demo';
export const DEMO_SUBJECT = 'u-demo';

/** Remembered consents (REMEMBER_CONSENT=1): in memory, bounded, lost on restart. */
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

/**
 * A local path to go back to after sign-in; anything else becomes `/`. It ends up in a `Location`
 * header, so only printable ASCII is kept (the app's own return paths are percent-encoded).
 */
export function safeReturnTo(v: string | null): string {
  if (!v?.startsWith('/') || v.startsWith('//')) return '/';
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    // Control characters, spaces, backslashes (browsers read `/\\host` as `//host`), non-ASCII.
    if (c <= 0x20 || c >= 0x7f || c === 0x5c) return '/';
  }
  return v;
}

function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return isIPv6(host) ? `[${host}]` : host;
}

/** Creates the demo client (always, so its redirect URI follows the issuer) and the demo user (once). */
async function ensureDemo(storage: Storage, issuer: string): Promise<DemoUser> {
  await storage.putClient({
    id: DEMO_CLIENT_ID,
    secretHash: null,
    redirectUris: [`${issuer}/demo/callback`],
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: [...DEMO_SCOPES],
    tokenEndpointAuthMethod: 'none',
  });
  if (await storage.users.getUserByUsername(DEMO_USERNAME)) {
    return { username: DEMO_USERNAME, subject: DEMO_SUBJECT, password: null };
  }
  const password = randomBytes(12).toString('base64url');
  await storage.putUser({ username: DEMO_USERNAME, subject: DEMO_SUBJECT, passwordHash: await hashPassword(password) });
  return { username: DEMO_USERNAME, subject: DEMO_SUBJECT, password };
}

/**
 * Starts the example provider: opens the database and grant cache, listens, applies the seed
 * file, creates the demo client and user, and serves the pages, the OAuth endpoints and the API.
 * With `port: 0` it picks a free port (tests); `url` says where it listens.
 */
export async function createApp(config: AppConfig, options: AppOptions = {}): Promise<App> {
  const logger = createLogger(options.log);
  const storage = await openStorage(config.database);
  let grantCache: Awaited<ReturnType<typeof openGrantCache>> = null;
  let handler: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | null = null;
  const server = createServer((req, res) => {
    if (handler) void handler(req, res);
    else sendJson(res, 503, { error: 'temporarily_unavailable', error_description: 'Starting' }, { 'Retry-After': '1' });
  });
  const closeAll = async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await grantCache?.close();
    await storage.close();
  };
  try {
    grantCache = await openGrantCache(config.grantCache, config.lifetimes.authorizationCode);
    const address = await listen(server, config.host, config.port);
    const url = `http://${urlHost(address.address)}:${address.port}`;
    const issuer = config.issuer ?? `http://${urlHost(config.host)}:${address.port}`;
    const app = await build(config, { logger, storage, grantCache, url, issuer });
    handler = app.handler;
    let purging = false;
    const purge = setInterval(() => {
      if (purging) return;
      purging = true;
      storage
        .purgeExpired()
        .catch((err) => logger.warn('purging expired rows failed', { error: describeError(err) }))
        .finally(() => {
          purging = false;
        });
    }, 3600_000);
    purge.unref();
    logger.info('listening', {
      url,
      issuer,
      database: storage.kind,
      grantCache: grantCache?.description ?? 'database',
    });
    return {
      server,
      url,
      issuer,
      provider: app.provider,
      storage,
      demoUser: app.demoUser,
      rateLimit: app.rateLimit,
      signInLimit: app.signInLimit,
      logger,
      close: async () => {
        clearInterval(purge);
        await closeAll();
      },
    };
  } catch (err) {
    await closeAll().catch(() => {});
    throw err;
  }
}

interface Parts {
  logger: AppLogger;
  storage: Storage;
  grantCache: Awaited<ReturnType<typeof openGrantCache>>;
  url: string;
  issuer: string;
}

async function build(config: AppConfig, p: Parts) {
  const { logger, storage, issuer } = p;
  const secure = issuer.startsWith('https:');
  const issuerOrigin = new URL(issuer).origin;
  const localOrigin = new URL(p.url).origin;
  // Only signing in creates a session (see session.ts); anonymous visitors hold none.
  const sessions = new SessionStore(config.sessionTtl * 1000, config.sessionMaxEntries);
  const loginCsrf = new LoginCsrf();
  const consents = new ConsentMemory();
  const signInLimit = new SignInLimit(config.rateLimit);
  const dummyHash = await hashPassword(randomId());
  const infos = new WeakMap<OAuthRequest, RequestInfo>();
  const track = (oreq: OAuthRequest, info: RequestInfo) => {
    infos.set(oreq, info);
    return oreq;
  };

  const ipOfRequest = (req: OAuthRequest) => infos.get(req)?.ip ?? null;
  const rateLimit = createClientAuthRateLimit(config.rateLimit, ipOfRequest);
  const passwordGrantLimit = createPasswordGrantLimit(signInLimit, ipOfRequest);
  const clientExists = async (id: string): Promise<boolean> => {
    try {
      return (await storage.clients.getClient(id)) !== null;
    } catch {
      return false;
    }
  };
  /**
   * The client id for the request log. Core reports the id a request claimed, also when client
   * authentication failed or no such client exists; an unknown value may be a secret pasted into
   * the wrong field, so it is logged only when the request succeeded (the client authenticated,
   * or the authorization request was valid) or a client with this id exists.
   */
  const noteClient: AfterRequestHook = async (ctx, outcome) => {
    const info = infos.get(ctx.request);
    const id = outcome.clientId;
    if (!info || id === null || info.clientId === id) return undefined;
    if (outcome.valid || (await clientExists(id))) info.clientId = id;
    return undefined;
  };
  const provider = new OAuth2Provider({
    issuer,
    grants: config.grants,
    lifetimes: config.lifetimes,
    refreshTokenRotation: config.refreshTokenRotation,
    errorUri: '/error',
    logger: logger.core,
    hooks: {
      beforeRequest: [rateLimit.beforeRequest, passwordGrantLimit.beforeRequest],
      afterRequest: [rateLimit.afterRequest, passwordGrantLimit.afterRequest, noteClient],
    },
  });
  const sessionOf = (cookieHeader: string | string[] | undefined): Session | null =>
    sessions.get(parseCookies(cookieHeader)[SESSION_COOKIE]);
  const currentUser: CurrentUser = (req) => {
    const s = sessionOf(req.headers.cookie as string | string[] | undefined);
    return s?.userId ? { id: s.userId } : null;
  };
  storage.bind(provider, { currentUser, withGrants: p.grantCache === null });
  if (p.grantCache) provider.useStores({ grants: p.grantCache.store });
  provider.validate();

  const seed = config.seedFile ? await loadSeedFile(config.seedFile) : null;
  // Processes starting together on one database write the seed and demo entries in turn.
  const demoUser = await storage.exclusive(async () => {
    if (seed) {
      const n = await applySeed(storage, seed);
      logger.info('seed file applied', { clients: n.clients, users: n.users });
    }
    return config.demo ? ensureDemo(storage, issuer) : null;
  });

  const paths = provider.options.endpoints;
  const needToken = requireOAuth(provider);
  const needAdmin = requireOAuth(provider, 'admin');
  const demo = config.demo
    ? createDemoClient({
        issuer,
        internalUrl: p.url,
        authorizePath: paths.authorization,
        tokenPath: paths.token,
        secureCookies: secure,
        sessionTtlMs: config.sessionTtl * 1000,
        sameOrigin: (req) => sameOrigin(req),
      })
    : null;
  const oauthPaths = new Set([paths.token, paths.revocation, paths.introspection, '/.well-known/oauth-authorization-server']);

  /** The client's address: the socket peer, or the trusted proxies' `X-Forwarded-For` entry. */
  function ipOf(req: IncomingMessage): string | null {
    return clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], config.trustProxy);
  }

  /**
   * Forms must come from this site. Browsers that send `Sec-Fetch-Site` say so directly; others
   * may send `Origin` (`null` under `Referrer-Policy: no-referrer`). The CSRF token is checked too.
   */
  function sameOrigin(req: IncomingMessage): boolean {
    const site = req.headers['sec-fetch-site'];
    if (typeof site === 'string') return site === 'same-origin';
    const origin = req.headers.origin;
    return origin === undefined || origin === 'null' || origin === issuerOrigin || origin === localOrigin;
  }

  function startSession(res: ServerResponse, s: Session): Session {
    addCookie(res, serializeCookie(SESSION_COOKIE, s.id, { path: '/', secure }));
    return s;
  }

  /** The login form's CSRF token, setting the nonce cookie it is derived from when missing. */
  function loginToken(req: IncomingMessage, res: ServerResponse): string {
    const { nonce, fresh } = loginCsrf.nonce(parseCookies(req.headers.cookie)[LOGIN_COOKIE]);
    if (fresh) addCookie(res, serializeCookie(LOGIN_COOKIE, nonce, { path: '/login', secure, maxAge: config.sessionTtl }));
    return loginCsrf.token(nonce);
  }

  function forbidden(res: ServerResponse): void {
    sendHtml(
      res,
      403,
      errorPage({
        title: 'Forbidden',
        error: 'invalid_csrf_token',
        description: 'The form could not be verified. Reload the page and try again.',
      }),
    );
  }

  /** Reads a form posted by a signed-in user's page and checks the session's CSRF token and origin. */
  async function verifiedForm(req: IncomingMessage, res: ServerResponse, info: RequestInfo) {
    const oreq = await oauthRequest(req, res, info, 'page', PAGE_FORM_LIMIT);
    if (!oreq) return null;
    const form = formOf(oreq);
    const s = sessionOf(req.headers.cookie);
    if (!s || !sameOrigin(req) || !tokensMatch(form.get('csrf'), s.csrf)) {
      forbidden(res);
      return null;
    }
    return { oreq, form, session: s };
  }

  function formOf(oreq: OAuthRequest): URLSearchParams {
    return new URLSearchParams(typeof oreq.body === 'string' ? oreq.body : '');
  }

  /**
   * Converts a request with core's node adapter, which reads a form body up to `bodyLimit` (core's
   * default when omitted). `null` when the body could not be read: the answer (413 when too large,
   * else 400) has been sent, as a page or as JSON.
   */
  async function oauthRequest(
    req: IncomingMessage,
    res: ServerResponse,
    info: RequestInfo,
    as: 'page' | 'json',
    bodyLimit?: number,
  ): Promise<OAuthRequest | null> {
    const oreq = await readRequest(req, res, as, bodyLimit);
    return oreq && track(oreq, info);
  }

  /** `true` when core answers by sending the browser to this app's `/error` page. */
  function toErrorPage(r: OAuthResponse): boolean {
    const location = r.headers.Location ?? r.headers.location;
    if (r.status < 300 || r.status > 399 || typeof location !== 'string') return false;
    try {
      const u = new URL(location, issuer);
      return u.origin === issuerOrigin && u.pathname === '/error';
    } catch {
      return false;
    }
  }

  async function authorize(req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<void> {
    const oreq = await oauthRequest(req, res, info, 'page');
    if (!oreq) return;
    const a = await provider.authorize(oreq);
    if (a.type === 'response') {
      if (a.error && toErrorPage(a.response)) {
        // An error that must not go back to the client (unknown client, unregistered redirect
        // URI): shown here, with core's description of this very request, rather than through
        // `/error`, whose query string anyone can write.
        const code = knownErrorCode(a.error.error);
        sendHtml(res, 400, errorPage({ title: 'Authorization error', error: code, description: a.error.message }));
        return;
      }
      sendResponse(res, a.response);
      return;
    }
    const r = a.request;
    info.clientId = r.client.id;
    const s = sessionOf(req.headers.cookie);
    if (!s?.userId) {
      redirect(res, `/login?return_to=${encodeURIComponent(`${paths.authorization}?${r.query}`)}`, 302);
      return;
    }
    if (config.rememberConsent && consents.covers(s.userId, r.client.id, r.scopes)) {
      sendResponse(res, await provider.completeAuthorization(r, { approved: true, userId: s.userId }, oreq));
      return;
    }
    const consentId = addPending(s, { query: r.query, clientId: r.client.id, scopes: r.scopes });
    const name = (r.client as Client & { name?: unknown }).name;
    sendHtml(
      res,
      200,
      consentPage({
        csrf: s.csrf,
        consentId,
        clientId: r.client.id,
        clientName: typeof name === 'string' && name !== '' ? name : null,
        scopes: r.scopes,
        redirectUri: r.redirectUri,
        username: s.username ?? s.userId,
      }),
    );
  }

  async function decide(req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<void> {
    const v = await verifiedForm(req, res, info);
    if (!v) return;
    const { oreq, form, session: s } = v;
    const consentId = form.get('consent') ?? '';
    const pending = s.pending.get(consentId);
    s.pending.delete(consentId);
    if (!s.userId || !pending) {
      sendHtml(
        res,
        400,
        errorPage({
          title: 'Request expired',
          error: 'invalid_request',
          description: 'This authorization request was already answered or has expired. Start again from the application.',
        }),
      );
      return;
    }
    info.clientId = pending.clientId;
    const approved = form.get('decision') === 'approve';
    const out = await provider.completeAuthorization(pending.query, { approved, userId: s.userId }, oreq);
    const location = out.headers.Location;
    if (approved && config.rememberConsent && out.status === 302 && location && !new URL(location).searchParams.has('error')) {
      consents.remember(s.userId, pending.clientId, pending.scopes);
    }
    sendResponse(res, out);
  }

  /**
   * The login form's answer. Its CSRF token comes from the `pc_login` cookie (no session exists
   * before sign-in). Failed sign-ins are limited per (address, username), per address and per
   * username; a throttled attempt gets 429 with `Retry-After` and its password is not checked.
   */
  async function login(req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<void> {
    const oreq = await oauthRequest(req, res, info, 'page', PAGE_FORM_LIMIT);
    if (!oreq) return;
    const form = formOf(oreq);
    const nonce = parseCookies(req.headers.cookie)[LOGIN_COOKIE];
    if (!sameOrigin(req) || !loginCsrf.verify(nonce, form.get('csrf'))) {
      forbidden(res);
      return;
    }
    const csrf = loginCsrf.token(nonce!);
    const returnTo = safeReturnTo(form.get('return_to'));
    const username = (form.get('username') ?? '').slice(0, 200);
    const password = (form.get('password') ?? '').slice(0, 1024);
    const wait = signInLimit.retryAfter(info.ip, username);
    if (wait > 0) {
      const error = `Too many failed sign-ins. Try again in ${wait} seconds.`;
      sendHtml(res, 429, loginPage({ csrf, returnTo, username, error }), { 'Retry-After': String(wait) });
      return;
    }
    const creds = username ? await storage.users.getUserByUsername(username) : null;
    const ok = await verifySecret(password, creds?.passwordHash ?? dummyHash);
    if (!creds || !ok) {
      signInLimit.fail(info.ip, username);
      sendHtml(res, 401, loginPage({ csrf, returnTo, username, error: 'Invalid username or password.' }));
      return;
    }
    startSession(res, sessions.signIn(sessionOf(req.headers.cookie), creds.user.id, username));
    redirect(res, returnTo);
  }

  async function logout(req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<void> {
    const v = await verifiedForm(req, res, info);
    if (!v) return;
    sessions.destroy(v.session.id);
    addCookie(res, serializeCookie(SESSION_COOKIE, '', { path: '/', secure, maxAge: 0 }));
    redirect(res, '/');
  }

  async function api(req: IncomingMessage, res: ServerResponse, info: RequestInfo, admin: boolean): Promise<void> {
    const nreq = req as NodeRequest;
    await (admin ? needAdmin : needToken)(nreq, res, () => {
      const t = nreq.oauth!;
      info.clientId = t.clientId;
      sendJson(res, 200, {
        sub: t.userId,
        client_id: t.clientId,
        scopes: t.scopes,
        ...(admin ? { admin: true } : {}),
      });
    });
  }

  async function oauthEndpoint(req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<void> {
    const oreq = await oauthRequest(req, res, info, 'json');
    if (!oreq) return;
    const r = await provider.handle(oreq);
    if (r) sendResponse(res, r);
    else sendJson(res, 404, { error: 'not_found' });
  }

  async function route(req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<void> {
    const { path, query } = splitUrl(req.url);
    const method = req.method ?? 'GET';
    if (oauthPaths.has(path)) return oauthEndpoint(req, res, info);
    if (path === paths.authorization) return authorize(req, res, info);
    if (path === `${paths.authorization}/decision` && method === 'POST') return decide(req, res, info);
    if (path === '/api/me') return api(req, res, info, false);
    if (path === '/api/admin') return api(req, res, info, true);
    if (demo && (await demo(req, res))) return;
    if (method === 'GET' || method === 'HEAD') {
      switch (path) {
        case '/': {
          const s = sessionOf(req.headers.cookie);
          sendHtml(res, 200, homePage({ issuer, username: s?.username ?? null, csrf: s?.csrf ?? '', demo: demo !== null }));
          return;
        }
        case '/login': {
          const s = sessionOf(req.headers.cookie);
          const returnTo = safeReturnTo(query.get('return_to'));
          if (s?.userId && query.has('return_to')) return redirect(res, returnTo, 302);
          sendHtml(res, 200, loginPage({ csrf: loginToken(req, res), returnTo, username: '', error: null }));
          return;
        }
        case '/error': {
          // Anyone can link here with any query string: only a known error code is shown, with
          // this app's text for it; `error_description` and unknown codes are never shown.
          const code = knownErrorCode(query.get('error'));
          sendHtml(
            res,
            400,
            errorPage({
              title: 'Authorization error',
              error: code,
              description: code ? ERROR_TEXT[code] : 'The request could not be completed. Start again from the application.',
            }),
          );
          return;
        }
        case '/favicon.ico':
          res.writeHead(204, { 'Cache-Control': 'public, max-age=86400' });
          res.end();
          return;
        case '/static/style.css':
          res.writeHead(200, { 'Content-Type': 'text/css; charset=utf-8', 'Cache-Control': 'public, max-age=3600' });
          res.end(STYLESHEET);
          return;
      }
    }
    if (method === 'POST' && path === '/login') return login(req, res, info);
    if (method === 'POST' && path === '/logout') return logout(req, res, info);
    sendHtml(res, 404, errorPage({ title: 'Not found', error: 'not_found', description: 'There is no page here.' }));
  }

  async function handler(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const info: RequestInfo = { ip: ipOf(req), clientId: null };
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    res.once('close', () => {
      logger.request({
        method: req.method ?? 'GET',
        path: pathOnly(req.url ?? '/'),
        status: res.statusCode,
        durationMs: performance.now() - started,
        clientId: info.clientId,
        ip: info.ip,
      });
    });
    try {
      await route(req, res, info);
    } catch (err) {
      logger.error('request failed', { path: pathOnly(req.url ?? '/'), error: describeError(err) });
      if (!res.headersSent) {
        sendHtml(res, 500, errorPage({ title: 'Server error', error: 'server_error', description: 'Something went wrong.' }));
      } else {
        res.destroy();
      }
    }
  }

  return { provider, handler, demoUser, rateLimit, signInLimit };
}
