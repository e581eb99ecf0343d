/**
 * Server-rendered HTML. Every value interpolated with the `html` tag is escaped unless it is
 * itself `Html` made by the tag, so markup can only come from the templates in this file.
 */
import type { OAuthErrorCode } from '@portcullis/core';

/** A piece of trusted, already-escaped markup. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

function render(v: unknown): string {
  if (v instanceof Html) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  if (v === null || v === undefined || v === false) return '';
  return escapeHtml(String(v));
}

/** Tagged template: escapes every interpolated value (arrays are joined, `Html` is kept). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new Html(out);
}

/** The stylesheet served at `/static/style.css` (no inline styles, so CSP can forbid them). */
export const STYLESHEET = `
*{box-sizing:border-box}
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:40rem;margin:3rem auto;background:#fff;padding:2rem 2.5rem;border-radius:10px;box-shadow:0 1px 4px rgba(0,0,0,.08)}
h1{font-size:1.4rem;margin-top:0}
label{display:block;margin:.8rem 0 .2rem;font-weight:600}
input[type=text],input[type=password]{width:100%;padding:.5rem;border:1px solid #bbc;border-radius:6px;font:inherit}
button{font:inherit;padding:.5rem 1.2rem;border-radius:6px;border:1px solid #2950a8;background:#2f5fd0;color:#fff;cursor:pointer;margin:1rem .5rem 0 0}
button.secondary{background:#fff;color:#2f5fd0}
.error{background:#fdecec;border:1px solid #e5a3a3;color:#8a1c1c;padding:.6rem .9rem;border-radius:6px}
.ok{background:#eaf7ee;border:1px solid #9fd3ad;padding:.6rem .9rem;border-radius:6px}
code,pre{font:13px/1.4 ui-monospace,monospace;background:#f0f1f4;border-radius:4px}
pre{padding:.7rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
ul.scopes li{margin:.3rem 0}
.muted{color:#667}
nav{margin-top:2rem;font-size:.9rem}
nav a{margin-right:1rem}
`;

/** The page frame. */
export function layout(title: string, body: Html): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Portcullis</title>
<link rel="stylesheet" href="/static/style.css">
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`.value;
}

const SCOPE_TEXT: Record<string, string> = {
  profile: 'Know who you are (your user id)',
  read: 'Read your data',
  write: 'Change your data',
  admin: 'Administer the service',
};

function csrfField(token: string): Html {
  return html`<input type="hidden" name="csrf" value="${token}">`;
}

/** The home page. */
export function homePage(o: { issuer: string; username: string | null; csrf: string; demo: boolean }): string {
  return layout(
    'Home',
    html`<h1>Portcullis example provider</h1>
<p>Issuer: <code>${o.issuer}</code></p>
${
  o.username
    ? html`<p>Signed in as <strong>${o.username}</strong>.</p>
<form method="post" action="/logout">${csrfField(o.csrf)}<button type="submit" class="secondary">Sign out</button></form>`
    : html`<p>Not signed in. <a href="/login">Sign in</a></p>`
}
<nav>
${o.demo ? html`<a href="/demo">Demo client</a>` : ''}
<a href="/.well-known/oauth-authorization-server">Server metadata</a>
</nav>`,
  );
}

/** The login page. */
export function loginPage(o: { csrf: string; returnTo: string; error: string | null; username: string }): string {
  return layout(
    'Sign in',
    html`<h1>Sign in</h1>
${o.error ? html`<p class="error" role="alert">${o.error}</p>` : ''}
<form method="post" action="/login">
${csrfField(o.csrf)}
<input type="hidden" name="return_to" value="${o.returnTo}">
<label for="username">Username</label>
<input type="text" id="username" name="username" value="${o.username}" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit" id="sign-in">Sign in</button>
</form>`,
  );
}

/** The consent page: who asks, for which scopes, and where the answer goes. */
export function consentPage(o: {
  csrf: string;
  consentId: string;
  clientId: string;
  clientName: string | null;
  scopes: readonly string[];
  redirectUri: string;
  username: string;
}): string {
  const who = o.clientName ?? o.clientId;
  return layout(
    'Authorize',
    html`<h1><span class="client-name">${who}</span> wants to access your account</h1>
<p class="muted">Client id: <code class="client-id">${o.clientId}</code> · signed in as <strong>${o.username}</strong></p>
${
  o.scopes.length > 0
    ? html`<p>It asks for:</p>
<ul class="scopes">${o.scopes.map((s) => html`<li><code>${s}</code>${SCOPE_TEXT[s] ? html` — ${SCOPE_TEXT[s]}` : ''}</li>`)}</ul>`
    : html`<p>It asks for no particular permission.</p>`
}
<p class="muted">You will be sent back to <code>${o.redirectUri}</code>.</p>
<form method="post" action="/oauth/authorize/decision">
${csrfField(o.csrf)}
<input type="hidden" name="consent" value="${o.consentId}">
<button type="submit" name="decision" value="approve" id="approve">Allow</button>
<button type="submit" name="decision" value="deny" id="deny" class="secondary">Deny</button>
</form>`,
  );
}

/**
 * What the `/error` page says for each error code (RFC 6749, 6750, 7009, 7662): the page shows a
 * code from this closed list and this app's text for it, never text taken from its query string.
 */
export const ERROR_TEXT: Readonly<Record<OAuthErrorCode, string>> = {
  invalid_request:
    'The application sent an invalid authorization request: a parameter is missing, repeated or malformed, the client is unknown, or the redirect URI is not registered.',
  invalid_client: 'The client could not be authenticated.',
  invalid_grant: 'The authorization grant or refresh token is invalid, expired or revoked.',
  unauthorized_client: 'This client is not allowed to make this request.',
  unsupported_grant_type: 'This grant type is not supported.',
  invalid_scope: 'The requested scope is invalid, unknown or not allowed for this client.',
  access_denied: 'The request was denied.',
  unsupported_response_type: 'This response type is not supported.',
  server_error: 'The server could not complete the request.',
  temporarily_unavailable: 'The server is temporarily unavailable. Try again later.',
  invalid_token: 'The access token is invalid or has expired.',
  insufficient_scope: 'The access token lacks a required scope.',
  unsupported_token_type: 'This token type is not supported.',
  invalid_target: 'The requested resource is invalid, unknown or not allowed for this client.',
  invalid_request_uri: 'The pushed authorization request is unknown, expired or already used. Start again from the application.',
  invalid_dpop_proof: 'The DPoP proof is missing or invalid.',
  use_dpop_nonce: 'The DPoP proof must carry the nonce the server provided.',
  invalid_redirect_uri: 'A redirect URI of the client registration is invalid.',
  invalid_client_metadata: 'The client registration metadata is invalid.',
  authorization_pending: 'The device is waiting for the user to approve the request.',
  slow_down: 'The device is asking too often.',
  expired_token: 'The device code has expired.',
};

/** `value` when it is one of the error codes of `ERROR_TEXT`, else `null`. */
export function knownErrorCode(value: string | null | undefined): OAuthErrorCode | null {
  return typeof value === 'string' && Object.hasOwn(ERROR_TEXT, value) ? (value as OAuthErrorCode) : null;
}

/** An error page (requests that must not be redirected, bad forms, unknown pages); `error: null` shows no code. */
export function errorPage(o: { title: string; error: string | null; description: string | null }): string {
  const code = o.error === null ? '' : html`<code class="error-code">${o.error}</code>`;
  const sep = o.error !== null && o.description ? ': ' : '';
  return layout(
    o.title,
    html`<h1>${o.title}</h1>
<p class="error" role="alert">${code}${sep}${o.description ? html`<span class="error-description">${o.description}</span>` : ''}</p>
<nav><a href="/">Home</a></nav>`,
  );
}
