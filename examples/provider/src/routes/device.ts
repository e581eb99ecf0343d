import type { ServerResponse } from 'node:http';
import { type Client, formatUserCode, normalizeUserCode } from '@portcullis/core';
import { addressBucket } from '../client-address.js';
import { type AppContext, type RequestInfo, type RouteGroup, verifiedForm } from '../context.js';
import { deviceConsentPage, deviceDonePage, deviceEntryPage } from '../device-pages.js';
import { errorPage } from '../html.js';
import { PAGE_FORM_LIMIT, redirect, sendHtml } from '../http-util.js';
import { decidedBy, type SignedIn } from '../state/app-state.js';

/** The device authorization grant type (RFC 8628 section 3.4). */
export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** The demo device client's id (a public client: no secret, the device grant and refresh tokens). */
export const DEVICE_DEMO_CLIENT_ID = 'demo-device';

/** The demo device client, written at every start with the demo client (`DEMO=1`); `pnpm device-demo` uses it. */
export const DEVICE_DEMO_CLIENT: Client = {
  id: DEVICE_DEMO_CLIENT_ID,
  secretHash: null,
  redirectUris: [],
  grantTypes: [DEVICE_GRANT, 'refresh_token'],
  scopes: ['profile', 'read'],
  tokenEndpointAuthMethod: 'none',
};

/** The verification page's path (`verification_uri`; core's default is `<issuer>/device`). */
export const DEVICE_PATH = '/device';

/** The field of a pending consent (see `SessionState.addPending`) that marks it as a device request. */
const PENDING_KEY = 'device_user_code';

const NOT_FOUND =
  'This code is not valid: it may be mistyped, expired or already used. Check the code on your device, or start again there.';

/**
 * The verification page of the device authorization grant (RFC 8628 section 3.3):
 *
 * - `GET /device` (sign-in required) shows the code entry form, pre-filled from `?user_code=`
 *   (`verification_uri_complete`); it looks nothing up.
 * - `POST /device` (session CSRF token) looks the code up (case, dashes and spaces ignored) and
 *   shows the client and the scopes it asks for, as a pending consent of the session.
 * - `POST /device/decision` answers that consent once (approve or deny).
 *
 * Failed lookups count per address and per signed-in user (`RATE_LIMIT_MAX_FAILURES` within
 * `RATE_LIMIT_WINDOW`, 429 with `Retry-After` past it), on top of core's provider-wide lookup
 * limit; so one address or one account cannot guess codes, nor use up core's limit alone.
 */
export function deviceRoutes(ctx: AppContext): RouteGroup {
  const { provider, config } = ctx;
  const { sessions } = ctx.state;
  const windowMs = config.rateLimit.windowSeconds * 1000;
  const byAddress = ctx.state.counter('device-address', config.rateLimit.maxFailures, windowMs, config.rateLimit.maxEntries);
  const byUser = ctx.state.counter('device-user', config.rateLimit.maxFailures, windowMs, config.rateLimit.maxEntries);
  const addressKey = (info: RequestInfo) => (info.ip === null ? '-' : addressBucket(info.ip));
  const enabled = provider.options.grants.has(DEVICE_GRANT);

  function entry(res: ServerResponse, status: number, s: SignedIn, userCode: string, error: string | null, headers = {}): void {
    sendHtml(res, status, deviceEntryPage({ csrf: s.csrf, username: s.username, userCode, error }), headers);
  }

  /** The code as shown (`BCDF-GHJK`) when `input` can be a user code, else `''`: only that is ever echoed. */
  function shown(input: string | null): string {
    const n = normalizeUserCode(input);
    return n === null ? '' : formatUserCode(n);
  }

  async function show(r: Parameters<RouteGroup>[0]): Promise<void> {
    const { req, res, query } = r;
    const codes = query.getAll('user_code');
    const s = await ctx.sessionOf(req.headers.cookie);
    if (!s) {
      const code = codes.length === 1 ? shown(codes[0]!) : '';
      const back = code === '' ? DEVICE_PATH : `${DEVICE_PATH}?user_code=${encodeURIComponent(code)}`;
      redirect(res, `/login?return_to=${encodeURIComponent(back)}`, 302);
      return;
    }
    if (codes.length > 1) {
      entry(res, 400, s, '', 'The link names more than one code. Type the code your device shows.');
      return;
    }
    if (codes.length === 1 && shown(codes[0]!) === '') {
      entry(res, 400, s, '', 'The code in this link is not valid. Type the code your device shows.');
      return;
    }
    entry(res, 200, s, codes.length === 1 ? shown(codes[0]!) : '', null);
  }

  async function lookup(r: Parameters<RouteGroup>[0]): Promise<void> {
    const { req, res, info } = r;
    const v = await verifiedForm(ctx, req, res, info, PAGE_FORM_LIMIT);
    if (!v) return;
    const { form, session: s } = v;
    const codes = form.getAll('user_code');
    if (codes.length !== 1) {
      entry(res, 400, s, '', 'Type the code your device shows, once.');
      return;
    }
    const input = codes[0]!;
    const wait = Math.max(await byAddress.retryAfter(addressKey(info)), await byUser.retryAfter(s.userId));
    if (wait > 0) {
      entry(res, 429, s, shown(input), `Too many wrong codes. Try again in ${wait} seconds.`, { 'Retry-After': String(wait) });
      return;
    }
    const found = await provider.findDeviceRequest(input);
    if (!found) {
      await Promise.all([byAddress.fail(addressKey(info)), byUser.fail(s.userId)]);
      entry(res, 400, s, shown(input), NOT_FOUND);
      return;
    }
    info.clientId = found.client.id;
    const consentId = await sessions.addPending(s, {
      query: new URLSearchParams({ [PENDING_KEY]: found.userCode }).toString(),
      clientId: found.client.id,
      scopes: found.scopes,
    });
    const name = (found.client as Client & { name?: unknown }).name;
    sendHtml(
      res,
      200,
      deviceConsentPage({
        csrf: s.csrf,
        consentId,
        clientId: found.client.id,
        clientName: typeof name === 'string' && name !== '' ? name : null,
        scopes: found.scopes,
        userCode: found.userCode,
        username: s.username,
      }),
    );
  }

  async function decide(r: Parameters<RouteGroup>[0]): Promise<void> {
    const { req, res, info } = r;
    const v = await verifiedForm(ctx, req, res, info, PAGE_FORM_LIMIT);
    if (!v) return;
    const { form, session: s } = v;
    const decisions = form.getAll('decision');
    const decision = decisions.length === 1 ? decisions[0] : null;
    if (decision !== 'approve' && decision !== 'deny') {
      sendHtml(res, 400, errorPage({ title: 'Bad request', error: 'invalid_request', description: 'Choose Allow or Deny.' }));
      return;
    }
    const pending = await sessions.takePending(s, form.get('consent') ?? '');
    const userCode = pending ? new URLSearchParams(pending.query).get(PENDING_KEY) : null;
    if (!pending || userCode === null) {
      sendHtml(
        res,
        400,
        errorPage({
          title: 'Request expired',
          error: 'invalid_request',
          description: 'This device request was already answered or has expired. Start again on your device.',
        }),
      );
      return;
    }
    info.clientId = pending.clientId;
    const approved = decision === 'approve';
    const recorded = await provider.completeDeviceAuthorization(userCode, { approved, ...decidedBy(s) });
    if (!recorded) {
      entry(res, 400, s, '', 'This code has expired or was already answered. Start again on your device.');
      return;
    }
    sendHtml(res, 200, deviceDonePage({ approved }));
  }

  function notAllowed(res: ServerResponse, allow: string): void {
    sendHtml(res, 405, errorPage({ title: 'Method not allowed', error: 'invalid_request', description: `Use ${allow}.` }), {
      Allow: allow,
    });
  }

  return async (r) => {
    if (!enabled) return false;
    if (r.path === DEVICE_PATH) {
      if (r.method === 'GET' || r.method === 'HEAD') await show(r);
      else if (r.method === 'POST') await lookup(r);
      else notAllowed(r.res, 'GET, HEAD, POST');
      return true;
    }
    if (r.path === `${DEVICE_PATH}/decision`) {
      if (r.method === 'POST') await decide(r);
      else notAllowed(r.res, 'POST');
      return true;
    }
    return false;
  };
}
