/**
 * docs/hooks.md: each hook of the example does what the guide says, on a provider with memory
 * stores: 429 past the limit, a blocked client refused before any store is asked, the audit
 * trail, and a veto that replaces the response and revokes the tokens the request issued.
 */
import assert from 'node:assert/strict';
import { basicAuth, formRequest, jsonBody } from '@portcullis/binding-testkit';
import { type AccessTokenRecord, createMemoryStores, hashSecret } from '@portcullis/core';
import { describe, it } from 'vitest';
import { type AuditLine, createHookedProvider } from '../examples/hooks.js';

function setup() {
  const stores = createMemoryStores({
    clients: ['svc', 'other', 'banned'].map((id) => ({
      id,
      secretHash: hashSecret('pw-0123456789abcdefghij0123456789'),
      redirectUris: [],
      grantTypes: ['client_credentials' as const],
      scopes: ['read'],
    })),
  });
  const saved: AccessTokenRecord[] = [];
  const saveTokens = stores.tokens.saveTokens.bind(stores.tokens);
  stores.tokens.saveTokens = async (access, refresh) => {
    saved.push(access);
    await saveTokens(access, refresh);
  };
  let clientLookups = 0;
  const getClient = stores.clients.getClient.bind(stores.clients);
  stores.clients.getClient = async (id) => {
    clientLookups++;
    return getClient(id);
  };
  const suspended = new Set<string>();
  const auditLines: AuditLine[] = [];
  const provider = createHookedProvider({
    stores,
    blocked: new Set(['banned']),
    suspended: async (id) => suspended.has(id),
    auditLines,
  });
  const token = (id: string) =>
    provider.token(
      formRequest(
        '/oauth/token',
        { grant_type: 'client_credentials', scope: 'read' },
        { authorization: basicAuth(id, 'pw-0123456789abcdefghij0123456789') },
      ),
    );
  return { stores, saved, suspended, auditLines, token, lookups: () => clientLookups };
}

describe('hooks guide', () => {
  it('rate-limits token requests per client: 5 pass, the 6th is 429, another client is unaffected', async () => {
    const { token } = setup();
    for (let i = 0; i < 5; i++) assert.equal((await token('svc')).status, 200);
    const limited = await token('svc');
    assert.equal(limited.status, 429);
    assert.equal(limited.headers['retry-after'], '60');
    assert.equal(jsonBody(limited).error, 'slow_down');
    assert.equal((await token('other')).status, 200);
  });

  it('refuses a blocked client with invalid_client before any store is asked', async () => {
    const { token, lookups } = setup();
    const res = await token('banned');
    assert.equal(res.status, 401);
    assert.equal(jsonBody(res).error, 'invalid_client');
    assert.equal(lookups(), 0);
  });

  it('vetoes tokens of a suspended client and revokes what the request issued; the audit sees the replaced answer', async () => {
    const { token, stores, saved, suspended, auditLines } = setup();
    suspended.add('svc');
    const res = await token('svc');
    assert.equal(res.status, 400);
    assert.equal(jsonBody(res).error, 'unauthorized_client');
    assert.equal(saved.length, 1, 'the endpoint had issued a token');
    assert.equal(await stores.tokens.getAccessToken(saved[0]!.token), null, 'core revoked it');
    assert.deepEqual(auditLines.at(-1), {
      endpoint: 'token',
      valid: true,
      error: null,
      clientId: 'svc',
      userId: null,
      grantType: 'client_credentials',
      status: 400,
    });
  });

  it('audits a failed request with its error, and a successful one with its status', async () => {
    const { token, auditLines } = setup();
    await token('nobody');
    await token('other');
    assert.deepEqual(
      auditLines.map((l) => [l.valid, l.error, l.clientId, l.status]),
      [
        [false, 'invalid_client', 'nobody', 401],
        [true, null, 'other', 200],
      ],
    );
  });
});
