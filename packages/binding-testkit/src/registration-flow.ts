import assert from 'node:assert/strict';
import type { OAuth2Provider, OAuthRequest, OAuthResponse } from '@portcullis/core';
import { basicAuth, formRequest } from './flows.js';

/** The provider surface `registrationFlow` drives: everything goes through `handle()`. */
export type RegistrationFlowProvider = Pick<OAuth2Provider, 'handle'>;

/** The `registration` provider option `registrationFlow` expects (pass it to `new OAuth2Provider`). */
export const REGISTRATION_FLOW_OPTIONS = {
  enabled: true,
  grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
  scopes: ['read', 'write'],
} as const;

/** The secrets a registration showed once, handed to `inspect` so a test can look for them at rest. */
export interface RegistrationSecrets {
  clientId: string;
  clientSecret: string;
  registrationAccessToken: string;
}

/** Options of `registrationFlow`. */
export interface RegistrationFlowOptions {
  /** Default `/oauth/token` and `/oauth/register` (core's defaults). */
  tokenPath?: string;
  registrationPath?: string;
  /**
   * Called after the registration and again after the update, with the client as stored: check
   * the store's own rows here (e.g. that neither secret is kept in plain text).
   */
  inspect?: (step: 'registered' | 'updated', secrets: RegistrationSecrets) => Promise<void>;
}

/** What `registrationFlow` saw. */
export interface RegistrationFlowResult extends RegistrationSecrets {
  /** The registration access token after the update rotated it. */
  rotatedAccessToken: string;
}

const jsonRequest = (method: string, url: string, body: unknown, token?: string): OAuthRequest => ({
  method,
  url,
  headers: {
    ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
  },
  ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  remoteAddress: '127.0.0.1',
});

async function call(provider: RegistrationFlowProvider, req: OAuthRequest, what: string): Promise<OAuthResponse> {
  const res = await provider.handle(req);
  assert.ok(res, `${what}: handle() must answer ${req.url} (is registration enabled?)`);
  return res;
}

function body(res: OAuthResponse, what: string): Record<string, unknown> {
  assert.ok(res.body.length > 0, `${what}: expected a JSON body`);
  return JSON.parse(res.body) as Record<string, unknown>;
}

/**
 * Dynamic client registration end to end on a provider whose stores are the binding's (with
 * `registration: REGISTRATION_FLOW_OPTIONS`, the `client_credentials` grant and scopes `read` and
 * `write`): registers a confidential client over `handle()` with a JSON body (RFC 7591), gets a
 * `client_credentials` token with the secret shown, reads the client with the registration
 * access token (RFC 7592), replaces its metadata (display fields and contacts dropped, grants
 * narrowed; the token rotates and the old one is refused), gets a token again with the same
 * secret, deletes the client (204), and checks that the configuration endpoint then answers 401
 * and the secret `invalid_client`. Rejects with an `AssertionError` at the first step that fails.
 */
export async function registrationFlow(
  provider: RegistrationFlowProvider,
  options: RegistrationFlowOptions = {},
): Promise<RegistrationFlowResult> {
  const tokenPath = options.tokenPath ?? '/oauth/token';
  const registrationPath = options.registrationPath ?? '/oauth/register';
  const metadata = {
    redirect_uris: ['https://app.example/cb', 'http://127.0.0.1:8080/callback'],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'read write',
    client_name: 'Café client ✓',
    client_uri: 'https://app.example/',
    logo_uri: 'https://app.example/logo.png',
    contacts: ['ops@app.example', 'dev@app.example'],
    software_id: 'portcullis-testkit',
    software_version: '1.0.0',
  };
  const created = await call(provider, jsonRequest('POST', registrationPath, metadata), 'registration');
  assert.equal(created.status, 201, `registration: expected 201, got ${created.status} ${created.body}`);
  const reg = body(created, 'registration');
  const clientId = reg.client_id;
  const clientSecret = reg.client_secret;
  const accessToken = reg.registration_access_token;
  assert.ok(typeof clientId === 'string' && clientId.length > 0, 'registration: client_id');
  assert.ok(typeof clientSecret === 'string' && clientSecret.length > 0, 'registration: client_secret');
  assert.ok(typeof accessToken === 'string' && accessToken.length > 0, 'registration: registration_access_token');
  assert.equal(typeof reg.registration_client_uri, 'string', 'registration: registration_client_uri');
  const configPath = new URL(reg.registration_client_uri as string).pathname;
  const secrets = { clientId, clientSecret, registrationAccessToken: accessToken };
  await options.inspect?.('registered', secrets);

  const tokenWith = (secret: string) =>
    call(
      provider,
      formRequest(tokenPath, { grant_type: 'client_credentials', scope: 'read' }, { authorization: basicAuth(clientId, secret) }),
      'token',
    );
  const first = await tokenWith(clientSecret);
  assert.equal(first.status, 200, `client_credentials with the registered secret: expected 200, got ${first.status} ${first.body}`);
  assert.equal(typeof body(first, 'token').access_token, 'string');
  const wrong = await tokenWith(`${clientSecret}x`);
  assert.equal(body(wrong, 'token with a wrong secret').error, 'invalid_client');

  // RFC 7592 section 2.1: read with the registration access token.
  const read = await call(provider, jsonRequest('GET', configPath, undefined, accessToken), 'read');
  assert.equal(read.status, 200, `read: expected 200, got ${read.status} ${read.body}`);
  const info = body(read, 'read');
  assert.equal(info.client_id, clientId);
  assert.equal(info.client_secret, undefined, 'read: the secret is never shown again');
  assert.deepEqual(info.redirect_uris, metadata.redirect_uris, 'read: redirect_uris');
  assert.deepEqual(info.grant_types, metadata.grant_types, 'read: grant_types');
  assert.deepEqual(info.response_types, metadata.response_types, 'read: response_types');
  assert.equal(info.scope, metadata.scope, 'read: scope');
  assert.equal(info.client_name, metadata.client_name, 'read: client_name');
  assert.equal(info.client_uri, metadata.client_uri, 'read: client_uri');
  assert.equal(info.logo_uri, metadata.logo_uri, 'read: logo_uri');
  assert.deepEqual(info.contacts, metadata.contacts, 'read: contacts');
  assert.equal(info.software_id, metadata.software_id, 'read: software_id');
  assert.equal(info.software_version, metadata.software_version, 'read: software_version');
  assert.equal(info.client_id_issued_at, reg.client_id_issued_at, 'read: client_id_issued_at');
  assert.equal(info.client_secret_expires_at, reg.client_secret_expires_at, 'read: client_secret_expires_at');

  // RFC 7592 section 2.2: replace the metadata; the registration access token rotates.
  const replaced = {
    client_id: clientId,
    redirect_uris: ['https://app.example/other'],
    grant_types: ['client_credentials'],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'read',
    client_name: 'Renamed',
  };
  const put = await call(provider, jsonRequest('PUT', configPath, replaced, accessToken), 'update');
  assert.equal(put.status, 200, `update: expected 200, got ${put.status} ${put.body}`);
  const updated = body(put, 'update');
  const rotated = updated.registration_access_token;
  assert.ok(typeof rotated === 'string' && rotated !== accessToken, 'update: a new registration access token');
  const stale = await call(provider, jsonRequest('GET', configPath, undefined, accessToken), 'read with the old token');
  assert.equal(stale.status, 401, 'read with the registration access token the update replaced');
  const reread = body(await call(provider, jsonRequest('GET', configPath, undefined, rotated), 'read after update'), 'read after update');
  assert.deepEqual(reread.redirect_uris, replaced.redirect_uris, 'read after update: redirect_uris');
  assert.deepEqual(reread.grant_types, replaced.grant_types, 'read after update: grant_types');
  assert.equal(reread.scope, 'read', 'read after update: scope');
  assert.equal(reread.client_name, 'Renamed', 'read after update: client_name');
  assert.equal(reread.contacts, undefined, 'read after update: contacts were dropped');
  assert.equal(reread.software_id, undefined, 'read after update: software_id was dropped');
  await options.inspect?.('updated', { ...secrets, registrationAccessToken: rotated });
  const second = await tokenWith(clientSecret);
  assert.equal(second.status, 200, `client_credentials after the update (same secret): expected 200, got ${second.status} ${second.body}`);

  // RFC 7592 section 2.3: delete; then neither the token nor the secret works.
  const del = await call(provider, jsonRequest('DELETE', configPath, undefined, rotated), 'delete');
  assert.equal(del.status, 204, `delete: expected 204, got ${del.status} ${del.body}`);
  const gone = await call(provider, jsonRequest('GET', configPath, undefined, rotated), 'read after delete');
  assert.equal(gone.status, 401, 'read after delete');
  const after = await tokenWith(clientSecret);
  assert.equal(after.status, 401, `client_credentials after delete: expected 401, got ${after.status}`);
  assert.equal(body(after, 'token after delete').error, 'invalid_client');
  return { ...secrets, rotatedAccessToken: rotated };
}
