/**
 * Interop (issue 15): oauth4webapi, the strictest client, registers itself with a core provider
 * (RFC 7591, `dynamicClientRegistrationRequest`) over loopback HTTP, then completes a code flow
 * with PKCE using the credentials it got, as a confidential client and as a public native one.
 * The user's consent is given in-process (`authorize` + `completeAuthorization`).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMemoryStores, OAuth2Provider, toNodeHandler } from '@portcullis/core';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let server: Server;
let provider: OAuth2Provider;
let issuer: string;

beforeAll(async () => {
  server = createServer((req, res) => handler(req, res));
  let handler: ReturnType<typeof toNodeHandler> = async (_req, res) => {
    res.end();
  };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  provider = new OAuth2Provider({
    issuer,
    scopes: ['read', 'write'],
    stores: createMemoryStores(),
    registration: { enabled: true, scopes: ['read', 'write'] },
  });
  handler = toNodeHandler(provider);
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const insecure = { [oauth.allowInsecureRequests]: true } as const;

async function discover(): Promise<oauth.AuthorizationServer> {
  const as = await oauth.processDiscoveryResponse(
    new URL(issuer),
    await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oauth2', ...insecure }),
  );
  expect(as.registration_endpoint).toBe(`${issuer}/oauth/register`);
  return as;
}

/** The user approves in-process; returns the callback URL the browser would be sent to. */
async function consent(url: URL): Promise<URL> {
  const a = await provider.authorize({ method: 'GET', url: url.pathname + url.search, headers: {} });
  if (a.type !== 'consent') throw new Error(`consent expected: ${a.response.status} ${a.response.body}`);
  const done = await provider.completeAuthorization(a.request, { approved: true, userId: 'alice' });
  return new URL(done.headers.Location!);
}

describe('oauth4webapi registers itself and completes a code flow', () => {
  it('as a confidential client (client_secret_basic)', async () => {
    const as = await discover();
    const registered = await oauth.processDynamicClientRegistrationResponse(
      await oauth.dynamicClientRegistrationRequest(
        as,
        {
          redirect_uris: ['https://rp.example/cb'],
          client_name: 'oauth4webapi RP',
          scope: 'read',
          token_endpoint_auth_method: 'client_secret_basic',
        },
        insecure,
      ),
    );
    expect(registered.client_id).toBeTypeOf('string');
    expect(registered.client_secret).toBeTypeOf('string');
    expect(registered.client_secret_expires_at).toBe(0);
    const client: oauth.Client = { client_id: registered.client_id, token_endpoint_auth_method: 'client_secret_basic' };
    const verifier = oauth.generateRandomCodeVerifier();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: client.client_id,
      redirect_uri: 'https://rp.example/cb',
      response_type: 'code',
      scope: 'read',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    }).toString();
    const params = oauth.validateAuthResponse(as, client, await consent(url), oauth.expectNoState);
    const response = await oauth.authorizationCodeGrantRequest(
      as,
      client,
      oauth.ClientSecretBasic(registered.client_secret as string),
      params,
      'https://rp.example/cb',
      verifier,
      insecure,
    );
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.scope).toBe('read');
    // The registration can be read back with its registration access token (RFC 7592).
    const read = await fetch(registered.registration_client_uri as string, {
      headers: { authorization: `Bearer ${registered.registration_access_token as string}` },
    });
    expect(read.status).toBe(200);
    expect(((await read.json()) as { client_name: string }).client_name).toBe('oauth4webapi RP');
  });

  it('as a public native client (none, loopback redirect)', async () => {
    const as = await discover();
    const redirect = 'http://127.0.0.1:49152/callback';
    const registered = await oauth.processDynamicClientRegistrationResponse(
      await oauth.dynamicClientRegistrationRequest(as, { redirect_uris: [redirect], token_endpoint_auth_method: 'none' }, insecure),
    );
    expect(registered.client_secret).toBeUndefined();
    const client: oauth.Client = { client_id: registered.client_id, token_endpoint_auth_method: 'none' };
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: client.client_id,
      redirect_uri: redirect,
      response_type: 'code',
      state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    }).toString();
    const params = oauth.validateAuthResponse(as, client, await consent(url), state);
    const tokens = await oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, redirect, verifier, insecure),
    );
    expect(tokens.access_token).toBeTypeOf('string');
  });

  it('a registration the server refuses surfaces as an RFC 7591 error in oauth4webapi', async () => {
    const as = await discover();
    const response = await oauth.dynamicClientRegistrationRequest(as, { redirect_uris: ['http://rp.example/cb'] }, insecure);
    await expect(oauth.processDynamicClientRegistrationResponse(response)).rejects.toMatchObject({ error: 'invalid_redirect_uri' });
  });
});
