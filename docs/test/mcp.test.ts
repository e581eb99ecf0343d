/**
 * docs/mcp-authorization.md: the discovery an MCP client goes through, over HTTP on 127.0.0.1:
 * a 401 naming the resource metadata, the metadata naming the authorization server, its metadata
 * naming the registration endpoint, self-registration, a code flow with PKCE and `resource`, and
 * the MCP endpoint answering with the JWT it got; a token for another audience is refused.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pkcePair } from '@portcullis/binding-testkit';
import { toNodeHandler } from '@portcullis/core';
import { afterAll, describe, it } from 'vitest';
import { createAuthorizationServer, createMcpHandler } from '../examples/mcp.js';

const servers: Server[] = [];
afterAll(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
});
async function listen(s: Server): Promise<string> {
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

describe('an MCP client finds, registers with and calls through Portcullis', () => {
  it('401 -> resource metadata -> AS metadata -> register -> code flow with resource -> 200', async () => {
    // Ports first: the issuer and the MCP server's identifier are their URLs.
    const asHttp = createServer();
    const mcpHttp = createServer();
    const issuer = await listen(asHttp);
    const mcpUrl = `${await listen(mcpHttp)}/mcp`;
    const provider = createAuthorizationServer(issuer, mcpUrl, randomBytes(32).toString('base64url'));
    asHttp.on('request', toNodeHandler(provider));
    mcpHttp.on('request', createMcpHandler(issuer, mcpUrl));

    // 1. The MCP server says where its metadata is.
    const first = await fetch(mcpUrl);
    assert.equal(first.status, 401);
    const challenge = first.headers.get('www-authenticate') ?? '';
    const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)?.[1];
    assert.ok(metadataUrl, challenge);
    // 2. The metadata names the authorization server; 3. its metadata the registration endpoint.
    const resourceMetadata = (await (await fetch(metadataUrl)).json()) as { authorization_servers: string[]; resource: string };
    assert.deepEqual(resourceMetadata.authorization_servers, [issuer]);
    const as = (await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    assert.equal(as.client_id_metadata_document_supported, true);
    assert.ok(as.pushed_authorization_request_endpoint);
    assert.deepEqual(as.dpop_signing_alg_values_supported, ['ES256', 'EdDSA', 'PS256', 'RS256']);
    // 4. The client registers itself (a public native client).
    const redirect = 'http://127.0.0.1:33418/callback';
    const registered = await fetch(as.registration_endpoint as string, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_name: 'Docs MCP client',
        redirect_uris: [redirect],
        token_endpoint_auth_method: 'none',
        scope: 'tools:read',
      }),
    });
    assert.equal(registered.status, 201);
    const client = (await registered.json()) as { client_id: string };
    // 5. A code flow with PKCE naming the MCP server as the resource; the user approves.
    const { verifier, challenge: codeChallenge } = pkcePair();
    const q = new URLSearchParams({
      client_id: client.client_id,
      response_type: 'code',
      redirect_uri: redirect,
      scope: 'tools:read',
      resource: mcpUrl,
      code_challenge: codeChallenge,
      code_challenge_method: 'S256',
    });
    const a = await provider.authorize({ method: 'GET', url: `/oauth/authorize?${q}`, headers: {} });
    assert.equal(a.type, 'consent');
    if (a.type !== 'consent') return;
    assert.equal(a.request.client.name, 'Docs MCP client');
    const done = await provider.completeAuthorization(a.request, { approved: true, userId: 'alice' });
    const code = new URL(done.headers.Location!).searchParams.get('code')!;
    const token = (await (
      await fetch(`${issuer}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: redirect,
          client_id: client.client_id,
          code_verifier: verifier,
          resource: mcpUrl,
        }),
      })
    ).json()) as { access_token: string; token_type: string };
    assert.equal(token.token_type, 'Bearer');
    assert.equal(token.access_token.split('.').length, 3, 'a JWT for the MCP server');
    // 6. The MCP server takes it.
    const ok = await fetch(mcpUrl, { headers: { authorization: `Bearer ${token.access_token}` } });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { result: { client: string } }).result.client, client.client_id);
    // Anything else is refused with the same pointer to the metadata.
    const wrong = await fetch(mcpUrl, { headers: { authorization: 'Bearer not.a.token' } });
    assert.equal(wrong.status, 401);
    assert.match(wrong.headers.get('www-authenticate') ?? '', /resource_metadata="/);
  });
});
