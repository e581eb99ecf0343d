/**
 * Authorization endpoint checks that issue 19's mutation run of `endpoints/authorize.ts` found
 * unpinned: PKCE for a client without a `secretHash` field, no refresh token from the implicit
 * grant, `dpop_jkt` only with `response_type=code`, and the comparison of repeated `resource`
 * parameters with those of a pushed request (RFC 9126 section 4).
 */
import { describe, expect, it } from 'vitest';
import { type AccessTokenRecord, type Client, createMemoryStores, type RefreshTokenRecord } from '../../src/index.js';
import { authorizeUrl, CB, confidential, get, makeProvider, pkce } from '../helpers.js';

const API = 'https://api.example/';
const CAL = 'https://cal.example/';

describe('authorization endpoint: checks found by mutation testing', () => {
  it('asks PKCE of a client whose record has no secretHash at all (a public client)', async () => {
    const { provider, stores } = makeProvider();
    const { secretHash: _s, ...rest } = { ...confidential, id: 'no-hash', grantTypes: ['authorization_code'] } as Client;
    stores.addClient(rest as Client);
    const a = await provider.authorize(get(authorizeUrl({ response_type: 'code', client_id: 'no-hash', redirect_uri: CB, state: 's' })));
    if (a.type !== 'response') throw new Error('expected an error redirect');
    const loc = new URL(a.response.headers.Location!);
    expect(loc.searchParams.get('error')).toBe('invalid_request');
    expect(loc.searchParams.get('error_description')).toBe('code_challenge is required (PKCE, S256)');
  });

  it('never saves a refresh token for the implicit grant (RFC 6749 section 4.2.2)', async () => {
    const base = createMemoryStores({ clients: [confidential] });
    const saved: unknown[] = [];
    const tokens = {
      ...base.tokens,
      saveTokens: async (a: AccessTokenRecord, r: RefreshTokenRecord | null) => {
        saved.push(r ?? null);
        return base.tokens.saveTokens(a, r);
      },
    };
    const { provider } = makeProvider({ stores: { ...base, tokens } });
    const a = await provider.authorize(
      get(authorizeUrl({ response_type: 'token', client_id: 'conf', redirect_uri: CB, scope: 'read', state: 's' })),
    );
    if (a.type !== 'consent') throw new Error('expected consent');
    const r = await provider.completeAuthorization(a.request, { approved: true, userId: 'u-alice' });
    const fragment = new URLSearchParams(new URL(r.headers.Location!).hash.slice(1));
    expect(fragment.get('access_token')).toBeTruthy();
    expect(fragment.get('refresh_token')).toBeNull();
    expect(saved).toEqual([null]);
  });

  it('refuses dpop_jkt with response_type token', async () => {
    const { provider } = makeProvider({ dpop: { enabled: true } });
    const jkt = 'A'.repeat(43);
    const a = await provider.authorize(
      get(authorizeUrl({ response_type: 'token', client_id: 'conf', redirect_uri: CB, scope: 'read', state: 's', dpop_jkt: jkt })),
    );
    if (a.type !== 'response') throw new Error('expected an error redirect');
    const loc = new URL(a.response.headers.Location!);
    const params = new URLSearchParams(loc.hash.slice(1) || loc.search.slice(1));
    expect(params.get('error')).toBe('invalid_request');
    expect(params.get('error_description')).toBe('dpop_jkt is only for response_type code');
  });

  it('compares every resource sent with a request_uri with the pushed ones, in order', async () => {
    const { provider } = makeProvider({ par: { enabled: true }, resources: [{ uri: API }, { uri: CAL }] });
    const { challenge } = pkce();
    const pushed = await provider.pushedAuthorizationRequest({
      method: 'POST',
      url: '/oauth/par',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from('conf:se%3Acr%2Bet%2F%25%26%3D+x').toString('base64')}`,
      },
      body: new URLSearchParams([
        ['response_type', 'code'],
        ['redirect_uri', CB],
        ['scope', 'read'],
        ['code_challenge', challenge],
        ['code_challenge_method', 'S256'],
        ['resource', API],
        ['resource', CAL],
      ]).toString(),
    });
    expect(pushed.status, pushed.body).toBe(201);
    const requestUri = JSON.parse(pushed.body!).request_uri as string;
    const at = (resources: string[]) =>
      provider.authorize(
        get(
          `/oauth/authorize?${new URLSearchParams([['client_id', 'conf'] as [string, string], ['request_uri', requestUri] as [string, string], ...resources.map((r): [string, string] => ['resource', r])])}`,
        ),
      );
    for (const resources of [[API], [API, CAL, CAL], [CAL, API], [API, API]]) {
      const a = await at(resources);
      expect(a.type).toBe('response');
      if (a.type === 'response')
        expect(a.response.body ?? a.response.headers.Location).toContain('differs from the pushed authorization request');
    }
    const ok = await at([API, CAL]);
    expect(ok.type).toBe('consent');
    if (ok.type === 'consent') expect(ok.request.resources).toEqual([API, CAL]);
  });
});
