/**
 * The "Connected apps" page (`/account/apps`): the clients the signed-in user has live tokens
 * with, and a CSRF-protected form per client to revoke them. Every value goes through the `html`
 * tag, so client names and ids are escaped.
 */
import { html, layout } from './html.js';

export interface ConnectedApp {
  readonly clientId: string;
  /** The client's display name when it has one (dynamic registration's `client_name`). */
  readonly name: string | null;
  readonly scopes: readonly string[];
  readonly lastUsed: Date | null;
  readonly grants: number;
}

function when(d: Date | null): string {
  return d === null ? 'unknown' : `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

export function connectedAppsPage(o: { username: string; csrf: string; apps: readonly ConnectedApp[]; notice: string | null }): string {
  return layout(
    'Connected apps',
    html`<h1>Connected apps</h1>
<p class="muted">Signed in as <strong>${o.username}</strong>. These applications hold tokens you approved.</p>
${o.notice ? html`<p class="notice" role="status">${o.notice}</p>` : ''}
${
  o.apps.length === 0
    ? html`<p id="no-apps">No application holds access to your account.</p>`
    : html`<ul class="apps">${o.apps.map(
        (a) => html`<li class="app">
<strong class="client-name">${a.name ?? a.clientId}</strong>${a.name ? html` <code class="client-id">${a.clientId}</code>` : ''}
<div>Scopes: ${a.scopes.length > 0 ? a.scopes.map((s) => html`<code class="scope">${s}</code> `) : 'none'}</div>
<div class="muted">Last used: <span class="last-used">${when(a.lastUsed)}</span> · ${a.grants} authorization${a.grants === 1 ? '' : 's'}</div>
<form method="post" action="/account/apps/revoke">
<input type="hidden" name="csrf" value="${o.csrf}">
<input type="hidden" name="client_id" value="${a.clientId}">
<button type="submit" class="secondary">Revoke</button>
</form>
</li>`,
      )}</ul>`
}
<nav><a href="/">Home</a></nav>`,
  );
}
