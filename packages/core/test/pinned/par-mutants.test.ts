/**
 * The pushed authorization request endpoint's own checks (RFC 9126, with RFC 9449 section 10.1),
 * pinned: each test fails when one of the checks in `endpoints/par.ts` is removed or loosened
 * (issue 19, mutation testing). The one-time use of `request_uri` is pinned in
 * compliance/rfc9126-par; here: the DPoP proof a push carries, and the bounded draws of a
 * `request_uri` on an ephemeral store that refuses every key.
 */
import { describe, expect, it } from 'vitest';
import { dpopKey, dpopProof } from '../../../binding-testkit/src/dpop.js';
import { formRequest, pkcePair } from '../../../binding-testkit/src/flows.js';
import {
  type Client,
  createMemoryStores,
  type EphemeralStore,
  OAuth2Provider,
  type OAuthRequest,
  type OAuthResponse,
  type ProviderOptions,
} from '../../src/index.js';

const ISSUER = 'https://auth.example';
const PAR_URL = `${ISSUER}/oauth/par`;
const CB = 'https://app.example/cb';
const REQUEST_URI = /^urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]{43}$/;

const clients: Client[] = [{ id: 'spa', secretHash: null, redirectUris: [CB], grantTypes: ['authorization_code'], scopes: ['read'] }];

function setup(options: Partial<ProviderOptions> = {}, ephemeral?: EphemeralStore) {
  const memory = createMemoryStores({ clients });
  const stores = ephemeral ? { ...memory, ephemeral } : memory;
  return new OAuth2Provider({
    issuer: ISSUER,
    grants: ['authorization_code'],
    stores,
    par: { enabled: true },
    ...options,
  });
}
type P = ReturnType<typeof setup>;

const json = (r: OAuthResponse) => JSON.parse(r.body!) as Record<string, unknown>;

function pushRequest(extra: Record<string, string> = {}, headers: Record<string, string> = {}): OAuthRequest {
  return formRequest(
    '/oauth/par',
    {
      client_id: 'spa',
      response_type: 'code',
      redirect_uri: CB,
      scope: 'read',
      code_challenge: pkcePair().challenge,
      code_challenge_method: 'S256',
      ...extra,
    },
    headers,
  );
}

/** The consent request the pushed request stands for. */
async function consentFor(p: P, requestUri: string) {
  const a = await p.authorize({
    method: 'GET',
    url: `/oauth/authorize?${new URLSearchParams({ client_id: 'spa', request_uri: requestUri })}`,
    headers: {},
  });
  if (a.type !== 'consent') throw new Error(`expected consent, got ${a.response.status} ${a.response.body}`);
  return a.request;
}

describe('PAR: the DPoP proof sent with a push (RFC 9449 section 10.1)', () => {
  it('ignores a DPoP header when DPoP is not enabled: 201, the request is not bound', async () => {
    const p = setup();
    const r = await p.pushedAuthorizationRequest(pushRequest({}, { dpop: 'not.a.proof' }));
    expect(r.status).toBe(201);
    const request = await consentFor(p, json(r).request_uri as string);
    expect(request.dpopJkt).toBeNull();
  });

  it('refuses a malformed proof when DPoP is enabled: 400 invalid_dpop_proof, nothing pushed', async () => {
    const p = setup({ dpop: { enabled: true } });
    const r = await p.pushedAuthorizationRequest(pushRequest({}, { dpop: 'not.a.proof' }));
    expect(r.status).toBe(400);
    expect(json(r).error).toBe('invalid_dpop_proof');
    expect(json(r).request_uri).toBeUndefined();
  });

  it('accepts a push without a proof when DPoP is enabled: 201, the request is not bound', async () => {
    const p = setup({ dpop: { enabled: true } });
    const r = await p.pushedAuthorizationRequest(pushRequest());
    expect(r.status).toBe(201);
    expect(json(r).request_uri).toMatch(REQUEST_URI);
    const request = await consentFor(p, json(r).request_uri as string);
    expect(request.dpopJkt).toBeNull();
  });

  it('binds the request to the key of a valid proof sent without dpop_jkt, and accepts a matching dpop_jkt', async () => {
    const p = setup({ dpop: { enabled: true } });
    const key = await dpopKey();
    const r = await p.pushedAuthorizationRequest(pushRequest({}, { dpop: await dpopProof(key, 'POST', PAR_URL) }));
    expect(r.status).toBe(201);
    expect((await consentFor(p, json(r).request_uri as string)).dpopJkt).toBe(key.jkt);
    const same = await p.pushedAuthorizationRequest(pushRequest({ dpop_jkt: key.jkt }, { dpop: await dpopProof(key, 'POST', PAR_URL) }));
    expect(same.status).toBe(201);
    expect((await consentFor(p, json(same).request_uri as string)).dpopJkt).toBe(key.jkt);
  });

  it('refuses a dpop_jkt that is not the key of the proof: 400 invalid_dpop_proof with its description', async () => {
    const p = setup({ dpop: { enabled: true } });
    const key = await dpopKey();
    const other = await dpopKey();
    const r = await p.pushedAuthorizationRequest(pushRequest({ dpop_jkt: other.jkt }, { dpop: await dpopProof(key, 'POST', PAR_URL) }));
    expect(r.status).toBe(400);
    expect(json(r).error).toBe('invalid_dpop_proof');
    expect(json(r).error_description).toBe('dpop_jkt does not match the key of the DPoP proof');
  });
});

describe('PAR: drawing a request_uri', () => {
  it('gives up after exactly 3 refused keys: 500 server_error, no request_uri', async () => {
    const keys: string[] = [];
    const refusing: EphemeralStore = {
      async add(key) {
        keys.push(key);
        return false;
      },
      async get() {
        return null;
      },
      async take() {
        return null;
      },
    };
    const p = setup({}, refusing);
    const r = await p.pushedAuthorizationRequest(pushRequest());
    expect(r.status).toBe(500);
    expect(json(r).error).toBe('server_error');
    expect(json(r).error_description).toBe('Could not save the pushed authorization request');
    expect(json(r).request_uri).toBeUndefined();
    expect(keys).toHaveLength(3);
    expect(new Set(keys).size).toBe(3);
  });

  it('saves under the second key when the first is taken', async () => {
    const memory = createMemoryStores({ clients }).ephemeral;
    let refused = 0;
    const once: EphemeralStore = {
      add: async (key, value, at) => (refused++ === 0 ? false : memory.add(key, value, at)),
      get: (key) => memory.get(key),
      take: (key) => memory.take(key),
    };
    const p = setup({}, once);
    const r = await p.pushedAuthorizationRequest(pushRequest());
    expect(r.status).toBe(201);
    expect(refused).toBe(2);
    expect((await consentFor(p, json(r).request_uri as string)).scopes).toEqual(['read']);
  });
});
