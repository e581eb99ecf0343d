import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { html, layout } from './html.js';
import { addCookie, readForm, redirect, sendHtml, splitUrl } from './http-util.js';
import { parseCookies, randomId, type Session, SessionStore, serializeCookie, tokensMatch } from './session.js';

/** The demo client's registration (a public client: PKCE, no secret). */
export const DEMO_CLIENT_ID = 'demo-web';
export const DEMO_SCOPES = ['profile', 'read'] as const;

export interface DemoOptions {
  /** The provider's issuer: where the browser is sent, and the `iss` the callback must carry. */
  readonly issuer: string;
  /** Where the demo reaches the provider's back channel (token endpoint, API) over loopback. */
  readonly internalUrl: string;
  readonly authorizePath: string;
  readonly tokenPath: string;
  readonly secureCookies: boolean;
  readonly sessionTtlMs: number;
  /** `true` when a form POST comes from this site (Origin check; the CSRF token is checked too). */
  readonly sameOrigin: (req: IncomingMessage) => boolean;
}

/** What the demo shows after a round trip. */
interface DemoResult {
  error: string | null;
  errorDescription: string | null;
  tokens: Record<string, unknown> | null;
  me: { status: number; body: string } | null;
  admin: { status: number; body: string; challenge: string | null } | null;
}

interface DemoState {
  pending?: { state: string; verifier: string };
  result?: DemoResult;
}

const COOKIE = 'pc_demo';

function stateOf(s: Session): DemoState {
  return s.data as DemoState;
}

function pretty(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

function resultView(r: DemoResult): ReturnType<typeof html> {
  if (r.error) {
    return html`<p class="error" role="alert" id="demo-error">The provider answered <code>${r.error}</code>${
      r.errorDescription ? html`: ${r.errorDescription}` : ''
    }</p>`;
  }
  const t = r.tokens ?? {};
  return html`<p class="ok">Signed in with Portcullis.</p>
<h2>Tokens</h2>
<pre id="tokens">${JSON.stringify(t, null, 2)}</pre>
<h2><code>GET /api/me</code> → ${r.me?.status ?? ''}</h2>
<pre id="api-me">${r.me ? pretty(r.me.body) : ''}</pre>
<h2><code>GET /api/admin</code> → ${r.admin?.status ?? ''}</h2>
<p class="muted">Needs the <code>admin</code> scope, which this client cannot get.</p>
<pre id="api-admin">${r.admin ? pretty(r.admin.body) : ''}${r.admin?.challenge ? `\nWWW-Authenticate: ${r.admin.challenge}` : ''}</pre>`;
}

/**
 * The demo client ("Sign in with Portcullis"), served by the same app under `/demo`: an ordinary
 * OAuth client that runs the authorization code flow with PKCE (S256) and `state`, checks `iss`
 * (RFC 9207), redeems the code over loopback HTTP and calls the protected API with the token.
 * It keeps its own session cookie, separate from the provider's.
 */
export function createDemoClient(o: DemoOptions) {
  const sessions = new SessionStore(o.sessionTtlMs, 1000);
  const redirectUri = `${o.issuer}/demo/callback`;

  function session(req: IncomingMessage, res: ServerResponse): Session {
    const existing = sessions.get(parseCookies(req.headers.cookie)[COOKIE]);
    if (existing) return existing;
    const s = sessions.create();
    addCookie(res, serializeCookie(COOKIE, s.id, { path: '/demo', secure: o.secureCookies }));
    return s;
  }

  function page(res: ServerResponse, s: Session, status = 200): void {
    const st = stateOf(s);
    const body = html`<h1>Demo client</h1>
<p class="muted">A separate OAuth client (<code>${DEMO_CLIENT_ID}</code>) living under <code>/demo</code>. It asks for <code>${DEMO_SCOPES.join(' ')}</code>.</p>
${st.result ? resultView(st.result) : ''}
<form method="post" action="/demo/start">
<input type="hidden" name="csrf" value="${s.csrf}">
<button type="submit" id="sign-in-with-portcullis">Sign in with Portcullis</button>
</form>
${
  st.result
    ? html`<form method="post" action="/demo/reset"><input type="hidden" name="csrf" value="${s.csrf}"><button type="submit" class="secondary" id="demo-reset">Forget the tokens</button></form>`
    : ''
}
<nav><a href="/">Provider home</a></nav>`;
    sendHtml(res, status, layout('Demo client', body));
  }

  async function callApi(path: string, token: string) {
    const r = await fetch(`${o.internalUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: r.status, body: await r.text(), challenge: r.headers.get('www-authenticate') };
  }

  async function redeem(code: string, verifier: string): Promise<DemoResult> {
    const r = await fetch(`${o.internalUrl}${o.tokenPath}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirectUri,
        code_verifier: verifier,
        client_id: DEMO_CLIENT_ID,
      }).toString(),
    });
    const body = (await r.json().catch(() => ({}))) as Record<string, unknown>;
    if (r.status !== 200 || typeof body.access_token !== 'string') {
      return {
        error: typeof body.error === 'string' ? body.error : `HTTP ${r.status}`,
        errorDescription: typeof body.error_description === 'string' ? body.error_description : null,
        tokens: null,
        me: null,
        admin: null,
      };
    }
    const me = await callApi('/api/me', body.access_token);
    const admin = await callApi('/api/admin', body.access_token);
    return { error: null, errorDescription: null, tokens: body, me: { status: me.status, body: me.body }, admin };
  }

  /** Serves `/demo*`; returns `false` for other paths. */
  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const { path, query } = splitUrl(req.url);
    if (path !== '/demo' && !path.startsWith('/demo/')) return false;
    const s = session(req, res);
    const st = stateOf(s);
    if (path === '/demo' && req.method === 'GET') {
      page(res, s);
      return true;
    }
    if ((path === '/demo/start' || path === '/demo/reset') && req.method === 'POST') {
      const form = await readForm(req, res);
      if (!form) return true; // 413 or 400 page sent
      if (!o.sameOrigin(req) || !tokensMatch(form.get('csrf'), s.csrf)) {
        sendHtml(res, 403, layout('Forbidden', html`<h1>Forbidden</h1><p class="error">The form could not be verified (CSRF).</p>`));
        return true;
      }
      if (path === '/demo/reset') {
        st.result = undefined;
        redirect(res, '/demo');
        return true;
      }
      const verifier = randomId();
      const state = randomId();
      st.pending = { state, verifier };
      const url = new URL(`${o.issuer}${o.authorizePath}`);
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: DEMO_CLIENT_ID,
        redirect_uri: redirectUri,
        scope: DEMO_SCOPES.join(' '),
        state,
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
      }).toString();
      redirect(res, url.toString());
      return true;
    }
    if (path === '/demo/callback' && req.method === 'GET') {
      const pending = st.pending;
      st.pending = undefined; // one round trip per start
      const fail = (error: string, description: string) => {
        st.result = { error, errorDescription: description, tokens: null, me: null, admin: null };
        page(res, s, 400);
      };
      if (!pending) {
        fail('no_pending_sign_in', 'No sign-in was started from this browser');
        return true;
      }
      if (!tokensMatch(query.get('state'), pending.state)) {
        fail('state_mismatch', 'The state does not match');
        return true;
      }
      if (query.get('iss') !== o.issuer) {
        fail('issuer_mismatch', 'The response does not come from the expected issuer');
        return true;
      }
      const error = query.get('error');
      const code = query.get('code');
      if (error !== null) {
        st.result = { error, errorDescription: query.get('error_description'), tokens: null, me: null, admin: null };
      } else if (code !== null) {
        st.result = await redeem(code, pending.verifier);
      } else {
        fail('invalid_response', 'The response has neither code nor error');
        return true;
      }
      redirect(res, '/demo');
      return true;
    }
    page(res, s, 404);
    return true;
  };
}
