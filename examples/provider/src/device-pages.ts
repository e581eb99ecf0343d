/**
 * The pages of the device authorization grant's verification page (`/device`, RFC 8628 section
 * 3.3): the code entry form, the consent page, and the answer. Every value goes through the
 * escaping `html` tag.
 */
import { html, layout } from './html.js';

function csrfField(token: string): ReturnType<typeof html> {
  return html`<input type="hidden" name="csrf" value="${token}">`;
}

/** The entry form: the signed-in user types the code their device shows (pre-filled from `verification_uri_complete`). */
export function deviceEntryPage(o: { csrf: string; username: string; userCode: string; error: string | null }): string {
  return layout(
    'Connect a device',
    html`<h1>Connect a device</h1>
${o.error ? html`<p class="error" role="alert" id="device-error">${o.error}</p>` : ''}
<p>Type the code your device shows. Signed in as <strong>${o.username}</strong>.</p>
<form method="post" action="/device">
${csrfField(o.csrf)}
<label for="user_code">Code</label>
<input type="text" id="user_code" name="user_code" value="${o.userCode}" maxlength="32" autocomplete="off" autocapitalize="characters" spellcheck="false" required autofocus>
<button type="submit" id="continue">Continue</button>
</form>
<nav><a href="/">Home</a></nav>`,
  );
}

/** The consent page: which client (the device) asks, for which scopes, under which code. */
export function deviceConsentPage(o: {
  csrf: string;
  consentId: string;
  clientId: string;
  clientName: string | null;
  scopes: readonly string[];
  userCode: string;
  username: string;
}): string {
  const who = o.clientName ?? o.clientId;
  return layout(
    'Authorize device',
    html`<h1><span class="client-name">${who}</span> wants to access your account</h1>
<p class="muted">Client id: <code class="client-id">${o.clientId}</code> · signed in as <strong>${o.username}</strong></p>
<p>Check that your device shows this code: <code class="user-code">${o.userCode}</code></p>
${
  o.scopes.length > 0
    ? html`<p>It asks for:</p>
<ul class="scopes">${o.scopes.map((s) => html`<li><code>${s}</code></li>`)}</ul>`
    : html`<p>It asks for no particular permission.</p>`
}
<form method="post" action="/device/decision">
${csrfField(o.csrf)}
<input type="hidden" name="consent" value="${o.consentId}">
<button type="submit" name="decision" value="approve" id="approve">Allow</button>
<button type="submit" name="decision" value="deny" id="deny" class="secondary">Deny</button>
</form>`,
  );
}

/** The answer after the decision was recorded. */
export function deviceDonePage(o: { approved: boolean }): string {
  return layout(
    o.approved ? 'Device connected' : 'Device denied',
    o.approved
      ? html`<h1>Device connected</h1>
<p class="ok" id="device-done">You allowed the device. You can go back to it now; it will continue on its own.</p>
<nav><a href="/">Home</a></nav>`
      : html`<h1>Device denied</h1>
<p class="ok" id="device-done">You denied the request. The device gets no access.</p>
<nav><a href="/">Home</a></nav>`,
  );
}
