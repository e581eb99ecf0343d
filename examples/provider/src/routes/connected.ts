import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Client } from '@portcullis/core';
import { type ConnectedApp, connectedAppsPage } from '../connected-page.js';
import { type AppContext, type RequestInfo, type RouteGroup, verifiedForm } from '../context.js';
import { errorPage } from '../html.js';
import { PAGE_FORM_LIMIT, redirect, sendHtml } from '../http-util.js';

export const CONNECTED_APPS_PATH = '/account/apps';
/** The longest client id the revoke form takes (core's ids are far shorter). */
const MAX_CLIENT_ID = 512;
/** `true` when `v` holds a control character (no client id does). */
function hasControl(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/**
 * `GET /account/apps`: the signed-in user's connected apps (`provider.listUserGrants`), each with
 * its name when it has one, from the client as the endpoints see it (`provider.findClient`: the
 * client store's, or a Client ID Metadata Document's `client_name`); `POST /account/apps/revoke` (session, same
 * origin and CSRF token checked): `provider.revokeUserGrants` for that client, and the remembered
 * consent for it forgotten, so the next authorization asks again.
 */
export function connectedRoutes(ctx: AppContext): RouteGroup {
  const { provider, logger } = ctx;
  const { consents } = ctx.state;

  function unavailable(res: ServerResponse, err: unknown): void {
    logger.warn('connected apps unavailable', { error: (err as Error)?.name ?? 'Error' });
    sendHtml(
      res,
      503,
      errorPage({ title: 'Connected apps', error: null, description: 'Connected apps are unavailable right now. Try again later.' }),
    );
  }

  /** The client's name, else `null` (the page shows its id): also when the store or the document fetch fails. */
  async function nameOf(clientId: string): Promise<string | null> {
    try {
      const c = (await provider.findClient(clientId)) as (Client & { name?: unknown }) | null;
      return typeof c?.name === 'string' && c.name !== '' ? c.name : null;
    } catch {
      return null;
    }
  }

  async function list(req: IncomingMessage, res: ServerResponse, notice: string | null): Promise<void> {
    const s = await ctx.sessionOf(req.headers.cookie);
    if (!s) {
      redirect(res, `/login?return_to=${encodeURIComponent(CONNECTED_APPS_PATH)}`, 302);
      return;
    }
    let apps: ConnectedApp[];
    try {
      const grants = await provider.listUserGrants(s.userId);
      apps = await Promise.all(
        grants.map(async (g) => ({
          clientId: g.clientId,
          name: await nameOf(g.clientId),
          scopes: g.scopes,
          lastUsed: g.lastIssuedAt,
          grants: g.grants,
        })),
      );
    } catch (err) {
      unavailable(res, err);
      return;
    }
    sendHtml(res, 200, connectedAppsPage({ username: s.username, csrf: s.csrf, apps, notice }), { 'Cache-Control': 'no-store' });
  }

  async function revoke(req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<void> {
    const v = await verifiedForm(ctx, req, res, info, PAGE_FORM_LIMIT);
    if (!v) return;
    const { form, session: s } = v;
    const ids = form.getAll('client_id');
    const clientId = ids[0] ?? '';
    if (ids.length !== 1 || clientId === '' || clientId.length > MAX_CLIENT_ID || hasControl(clientId)) {
      sendHtml(res, 400, errorPage({ title: 'Connected apps', error: null, description: 'The request names no valid application.' }));
      return;
    }
    try {
      const held = (await provider.listUserGrants(s.userId)).some((g) => g.clientId === clientId);
      const n = await provider.revokeUserGrants(s.userId, clientId);
      await consents.forget(s.userId, clientId);
      if (!held && n === 0) {
        sendHtml(res, 404, errorPage({ title: 'Connected apps', error: null, description: 'No such connected application.' }));
        return;
      }
      info.clientId = clientId;
      logger.info('connected app revoked', { userId: s.userId, clientId, revoked: n });
    } catch (err) {
      unavailable(res, err);
      return;
    }
    redirect(res, `${CONNECTED_APPS_PATH}?revoked=1`);
  }

  return async ({ req, res, info, path, method, query }) => {
    if (path === CONNECTED_APPS_PATH && (method === 'GET' || method === 'HEAD')) {
      await list(req, res, query.get('revoked') === '1' ? 'Access revoked.' : null);
    } else if (path === `${CONNECTED_APPS_PATH}/revoke` && method === 'POST') await revoke(req, res, info);
    else return false;
    return true;
  };
}
