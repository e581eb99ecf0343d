import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Client, type NodeRequest, type OAuthResponse, requireOAuth, sendResponse } from '@portcullis/core';
import { type AppContext, type RequestInfo, type RouteGroup, verifiedForm } from '../context.js';
import { consentPage, errorPage, knownErrorCode } from '../html.js';
import { PAGE_FORM_LIMIT, redirect, sendHtml, sendJson } from '../http-util.js';
import { decidedBy } from '../state/app-state.js';

/**
 * The OAuth routes: the endpoints core answers (`provider.handles()`: token, revocation,
 * introspection, metadata), the authorization endpoint with its consent page and decision, and
 * the protected API (`/api/me`, `/api/admin`).
 */
export function oauthRoutes(ctx: AppContext): RouteGroup {
  const { provider, config, issuer } = ctx;
  const paths = provider.options.endpoints;
  const issuerOrigin = new URL(issuer).origin;
  const { sessions, consents } = ctx.state;
  const needToken = requireOAuth(provider);
  const needAdmin = requireOAuth(provider, 'admin');

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
    const oreq = await ctx.oauthRequest(req, res, info, 'page');
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
    const s = await ctx.sessionOf(req.headers.cookie);
    if (!s) {
      redirect(res, `/login?return_to=${encodeURIComponent(`${paths.authorization}?${r.query}`)}`, 302);
      return;
    }
    if (config.rememberConsent && (await consents.covers(s.userId, r.client.id, r.scopes))) {
      sendResponse(res, await provider.completeAuthorization(r, { approved: true, ...decidedBy(s) }, oreq));
      return;
    }
    const consentId = await sessions.addPending(s, { query: r.query, clientId: r.client.id, scopes: r.scopes });
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
        username: s.username,
      }),
    );
  }

  async function decide(req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<void> {
    const v = await verifiedForm(ctx, req, res, info, PAGE_FORM_LIMIT);
    if (!v) return;
    const { oreq, form, session: s } = v;
    const consentId = form.get('consent') ?? '';
    const pending = await sessions.takePending(s, consentId);
    if (!pending) {
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
    const out = await provider.completeAuthorization(pending.query, { approved, ...decidedBy(s) }, oreq);
    const location = out.headers.Location;
    if (approved && config.rememberConsent && out.status === 302 && location && !new URL(location).searchParams.has('error')) {
      await consents.remember(s.userId, pending.clientId, pending.scopes);
    }
    sendResponse(res, out);
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

  async function endpoint(req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<void> {
    const oreq = await ctx.oauthRequest(req, res, info, 'json');
    if (!oreq) return;
    const r = await provider.handle(oreq);
    if (r) sendResponse(res, r);
    else sendJson(res, 404, { error: 'not_found' });
  }

  return async ({ req, res, info, path, method }) => {
    if (provider.handles(path)) await endpoint(req, res, info);
    else if (path === paths.authorization) await authorize(req, res, info);
    else if (path === `${paths.authorization}/decision` && method === 'POST') await decide(req, res, info);
    else if (path === '/api/me') await api(req, res, info, false);
    else if (path === '/api/admin') await api(req, res, info, true);
    else return false;
    return true;
  };
}
