import type { IncomingMessage, ServerResponse } from 'node:http';
import { hashPassword, verifySecret } from '@portcullis/core';
import { type AppContext, LOGIN_COOKIE, type RequestInfo, type RouteGroup, SESSION_COOKIE, verifiedForm } from '../context.js';
import { ERROR_TEXT, errorPage, homePage, knownErrorCode, loginPage, STYLESHEET } from '../html.js';
import { addCookie, PAGE_FORM_LIMIT, redirect, sendHtml } from '../http-util.js';
import { parseCookies, randomId, serializeCookie } from '../session.js';

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

/** The provider's own pages: home, login and logout, the error page, and the static files. */
export async function pageRoutes(ctx: AppContext, demo: boolean): Promise<RouteGroup> {
  const { config, issuer, secure, signInLimit, loginCsrf, storage } = ctx;
  const { sessions } = ctx.state;
  const dummyHash = await hashPassword(randomId());

  /** The login form's CSRF token, setting the nonce cookie it is derived from when missing. */
  function loginToken(req: IncomingMessage, res: ServerResponse): string {
    const { nonce, fresh } = loginCsrf.nonce(parseCookies(req.headers.cookie)[LOGIN_COOKIE]);
    if (fresh) addCookie(res, serializeCookie(LOGIN_COOKIE, nonce, { path: '/login', secure, maxAge: config.sessionTtl }));
    return loginCsrf.token(nonce);
  }

  /**
   * The login form's answer. Its CSRF token comes from the `pc_login` cookie (no session exists
   * before sign-in). Failed sign-ins are limited per (address, username), per address and per
   * username; a throttled attempt gets 429 with `Retry-After` and its password is not checked.
   */
  async function login(req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<void> {
    const oreq = await ctx.oauthRequest(req, res, info, 'page', PAGE_FORM_LIMIT);
    if (!oreq) return;
    const form = ctx.formOf(oreq);
    const nonce = parseCookies(req.headers.cookie)[LOGIN_COOKIE];
    if (!ctx.sameOrigin(req) || !loginCsrf.verify(nonce, form.get('csrf'))) {
      ctx.forbidden(res);
      return;
    }
    const csrf = loginCsrf.token(nonce!);
    const returnTo = safeReturnTo(form.get('return_to'));
    const username = (form.get('username') ?? '').slice(0, 200);
    const password = (form.get('password') ?? '').slice(0, 1024);
    const wait = await signInLimit.retryAfter(info.ip, username);
    if (wait > 0) {
      const error = `Too many failed sign-ins. Try again in ${wait} seconds.`;
      sendHtml(res, 429, loginPage({ csrf, returnTo, username, error }), { 'Retry-After': String(wait) });
      return;
    }
    const creds = username ? await storage.users.getUserByUsername(username) : null;
    const ok = await verifySecret(password, creds?.passwordHash ?? dummyHash);
    if (!creds || !ok) {
      await signInLimit.fail(info.ip, username);
      sendHtml(res, 401, loginPage({ csrf, returnTo, username, error: 'Invalid username or password.' }));
      return;
    }
    const previous = parseCookies(req.headers.cookie)[SESSION_COOKIE] ?? null;
    ctx.startSession(res, await sessions.signIn(previous, creds.user.id, username));
    redirect(res, returnTo);
  }

  async function logout(req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<void> {
    const v = await verifiedForm(ctx, req, res, info, PAGE_FORM_LIMIT);
    if (!v) return;
    await sessions.destroy(v.session.id);
    addCookie(res, serializeCookie(SESSION_COOKIE, '', { path: '/', secure, maxAge: 0 }));
    redirect(res, '/');
  }

  async function get({ req, res, path, query }: Parameters<RouteGroup>[0]): Promise<boolean> {
    switch (path) {
      case '/': {
        const s = await ctx.sessionOf(req.headers.cookie);
        sendHtml(res, 200, homePage({ issuer, username: s?.username ?? null, csrf: s?.csrf ?? '', demo }));
        return true;
      }
      case '/login': {
        const s = await ctx.sessionOf(req.headers.cookie);
        const returnTo = safeReturnTo(query.get('return_to'));
        if (s && query.has('return_to')) {
          redirect(res, returnTo, 302);
          return true;
        }
        sendHtml(res, 200, loginPage({ csrf: loginToken(req, res), returnTo, username: '', error: null }));
        return true;
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
        return true;
      }
      case '/favicon.ico':
        res.writeHead(204, { 'Cache-Control': 'public, max-age=86400' });
        res.end();
        return true;
      case '/static/style.css':
        res.writeHead(200, { 'Content-Type': 'text/css; charset=utf-8', 'Cache-Control': 'public, max-age=3600' });
        res.end(STYLESHEET);
        return true;
    }
    return false;
  }

  return async (r) => {
    if ((r.method === 'GET' || r.method === 'HEAD') && (await get(r))) return true;
    if (r.method === 'POST' && r.path === '/login') await login(r.req, r.res, r.info);
    else if (r.method === 'POST' && r.path === '/logout') await logout(r.req, r.res, r.info);
    else return false;
    return true;
  };
}
