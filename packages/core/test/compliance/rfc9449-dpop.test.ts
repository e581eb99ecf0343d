/**
 * RFC 9449 (OAuth 2.0 Demonstrating Proof of Possession, DPoP).
 *
 * RFC 9449 section 4.2, typ: "A field with the value dpop+jwt, which explicitly types the DPoP
 *   proof JWT as recommended in Section 3.11 of [RFC8725]."
 * RFC 9449 section 4.2, alg: "An identifier for a JWS asymmetric digital signature algorithm from
 *   [IANA.JOSE.ALGS]. It MUST NOT be none or an identifier for a symmetric algorithm (Message
 *   Authentication Code (MAC))."
 * RFC 9449 section 4.2, jwk: "Represents the public key chosen by the client in JSON Web Key (JWK)
 *   [RFC7517] format as defined in Section 4.1.3 of [RFC7515]. It MUST NOT contain a private key."
 * RFC 9449 section 4.2, htm: "The value of the HTTP method (Section 9.1 of [RFC9110]) of the
 *   request to which the JWT is attached."
 * RFC 9449 section 4.2, htu: "The HTTP target URI (Section 7.1 of [RFC9110]) of the request to
 *   which the JWT is attached, without query and fragment parts."
 * RFC 9449 section 4.2, ath: "Hash of the access token. The value MUST be the result of a
 *   base64url encoding (as defined in Section 2 of [RFC7515]) the SHA-256 [SHS] hash of the ASCII
 *   encoding of the associated access token's value."
 * RFC 9449 section 4.3: "there is not more than one DPoP HTTP request header field".
 * RFC 9449 section 5: a token bound to the proof's key is answered with "token_type" "DPoP".
 * RFC 9449 section 5: "Refresh tokens issued to public clients are bound to the DPoP key".
 * RFC 9449 section 6.1: "the JWT Confirmation Method ... jkt ... JWK SHA-256 Thumbprint".
 * RFC 9449 section 7.1: the DPoP authentication scheme, "Authorization: DPoP <token>", with
 *   `WWW-Authenticate: DPoP` errors and an `algs` parameter.
 * RFC 9449 section 8: a server may require a nonce: error "use_dpop_nonce" and a "DPoP-Nonce"
 *   header.
 * RFC 9449 section 10: "dpop_jkt" at the authorization endpoint binds the authorization code.
 * RFC 9449 section 11.1 (replay): a proof's jti is remembered for as long as the proof would be
 *   accepted, and a second proof with it is refused.
 *
 * Core's reading where the RFC leaves room: a code bound with dpop_jkt, and a public client's
 * bound refresh token, redeemed without a proof by that key are `invalid_dpop_proof` (the grant is
 * fine, the proof is not); the refresh token stays usable (it is checked before it is used up).
 */
import { createHash } from 'node:crypto';
import { type CryptoKey, decodeJwt, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type Client,
  ConfigurationError,
  createMemoryStores,
  generateClientSecret,
  hashSecret,
  OAuth2Provider,
  type OAuthRequest,
  type ProviderOptions,
} from '../../src/index.js';
import { basic, DESCRIPTION, form, json, pkce } from '../security/fixture.js';

const ISSUER = 'https://auth.example';
const TOKEN_URL = `${ISSUER}/oauth/token`;
const API = `${ISSUER}/api/items`;
const CB = 'https://app.example/cb';
const SECRET = generateClientSecret();
const KEK = Buffer.alloc(32, 7).toString('base64url');

const clients: Client[] = [
  { id: 'svc', secretHash: hashSecret(SECRET), redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read', 'write'] },
  { id: 'spa', secretHash: null, redirectUris: [CB], grantTypes: ['authorization_code', 'refresh_token'], scopes: ['read'] },
  { id: 'web', secretHash: hashSecret(SECRET), redirectUris: [CB], grantTypes: ['authorization_code', 'refresh_token'], scopes: ['read'] },
  {
    id: 'strict',
    secretHash: hashSecret(SECRET),
    redirectUris: [],
    grantTypes: ['client_credentials'],
    scopes: ['read'],
    dpopBoundAccessTokens: true,
  },
];

function setup(options: Partial<ProviderOptions> = {}) {
  const stores = createMemoryStores({ clients });
  const provider = new OAuth2Provider({
    issuer: ISSUER,
    grants: ['authorization_code', 'refresh_token', 'client_credentials'],
    stores,
    dpop: { enabled: true },
    ...options,
  });
  return { provider, stores };
}
type P = ReturnType<typeof setup>['provider'];

interface Key {
  privateKey: CryptoKey;
  jwk: JWK;
  alg: string;
  jkt: string;
}
async function newKey(alg: 'ES256' | 'EdDSA' | 'RS256' = 'ES256'): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  const { calculateJwkThumbprint } = await import('jose');
  return { privateKey, jwk, alg, jkt: await calculateJwkThumbprint(jwk, 'sha256') };
}

let jtis = 0;
interface ProofClaims {
  htm?: string;
  htu?: string;
  iat?: number;
  jti?: string | null;
  ath?: string;
  nonce?: string;
}
async function proof(key: Key, claims: ProofClaims = {}, header: Record<string, unknown> = {}): Promise<string> {
  const payload: Record<string, unknown> = {
    htm: claims.htm ?? 'POST',
    htu: claims.htu ?? TOKEN_URL,
    iat: claims.iat ?? Math.floor(Date.now() / 1000),
  };
  if (claims.jti !== null) payload.jti = claims.jti ?? `jti-${++jtis}-${Math.random()}`;
  if (claims.ath !== undefined) payload.ath = claims.ath;
  if (claims.nonce !== undefined) payload.nonce = claims.nonce;
  return new SignJWT(payload).setProtectedHeader({ typ: 'dpop+jwt', alg: key.alg, jwk: key.jwk, ...header }).sign(key.privateKey);
}
const ath = (token: string) => createHash('sha256').update(token).digest('base64url');

const tokenRequest = (params: Record<string, string>, dpop?: string | string[], headers: Record<string, string> = {}): OAuthRequest => {
  const r = form(params, headers);
  return dpop === undefined ? r : { ...r, headers: { ...r.headers, dpop } };
};
const ccRequest = (dpop?: string | string[]) =>
  tokenRequest({ grant_type: 'client_credentials', scope: 'read' }, dpop, { authorization: basic('svc', SECRET) });
const apiRequest = (authorization: string, dpop?: string, method = 'GET', url = '/api/items'): OAuthRequest => ({
  method,
  url,
  headers: dpop === undefined ? { authorization } : { authorization, dpop },
});

async function dpopToken(p: P, key: Key): Promise<string> {
  const r = await p.token(ccRequest(await proof(key)));
  expect(r.status).toBe(200);
  expect(json(r).token_type).toBe('DPoP');
  return json(r).access_token as string;
}

function expectTokenError(r: { status: number; body: string }, error: string, status = 400) {
  expect(r.status, r.body).toBe(status);
  const b = json(r as never);
  expect(b.error).toBe(error);
  expect(b.error_description).toMatch(DESCRIPTION);
}

let key: Key;
let other: Key;
beforeAll(async () => {
  key = await newKey();
  other = await newKey();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('RFC 9449 section 5: the token endpoint binds tokens to the proof key', () => {
  it('answers token_type DPoP and binds the access token (introspection: token_type DPoP, cnf.jkt)', async () => {
    const { provider } = setup();
    const token = await dpopToken(provider, key);
    const i = await provider.introspect(form({ token }, { authorization: basic('svc', SECRET) }, '/oauth/introspect'));
    expect(json(i)).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: key.jkt } });
  });

  it('without a proof issues a bearer token, as before', async () => {
    const { provider } = setup();
    const r = await provider.token(ccRequest());
    expect(json(r).token_type).toBe('Bearer');
    const i = await provider.introspect(
      form({ token: json(r).access_token as string }, { authorization: basic('svc', SECRET) }, '/oauth/introspect'),
    );
    expect(json(i).token_type).toBe('Bearer');
    expect(json(i)).not.toHaveProperty('cnf');
  });

  it('ignores the DPoP header when DPoP is off (the server does not support it)', async () => {
    const { provider } = setup({ dpop: undefined });
    const r = await provider.token(ccRequest('not even a jwt'));
    expect(r.status).toBe(200);
    expect(json(r).token_type).toBe('Bearer');
    const m = json(await provider.metadata());
    expect(m).not.toHaveProperty('dpop_signing_alg_values_supported');
  });

  it('advertises dpop_signing_alg_values_supported', async () => {
    const { provider } = setup({ dpop: { enabled: true, algorithms: ['ES256', 'EdDSA'] } });
    expect(json(await provider.metadata()).dpop_signing_alg_values_supported).toEqual(['ES256', 'EdDSA']);
  });

  it('accepts EdDSA and RS256 proofs', async () => {
    const { provider } = setup();
    for (const alg of ['EdDSA', 'RS256'] as const) {
      const k = await newKey(alg);
      const r = await provider.token(ccRequest(await proof(k)));
      expect(r.status, alg).toBe(200);
      expect(json(r).token_type).toBe('DPoP');
    }
  });

  it('refuses a client registered with dpopBoundAccessTokens that sends no proof', async () => {
    const { provider } = setup();
    const r = await provider.token(
      tokenRequest({ grant_type: 'client_credentials' }, undefined, { authorization: basic('strict', SECRET) }),
    );
    expectTokenError(r, 'invalid_dpop_proof');
    expect(json(r).error_description).toBe('This client must send a DPoP proof');
    const ok = await provider.token(
      tokenRequest({ grant_type: 'client_credentials' }, await proof(key), { authorization: basic('strict', SECRET) }),
    );
    expect(json(ok).token_type).toBe('DPoP');
  });

  it('puts cnf.jkt into JWT access tokens (section 6.1)', async () => {
    const { provider } = setup({ accessTokenFormat: 'jwt', jwt: { keyEncryptionKey: KEK } });
    const token = await dpopToken(provider, key);
    expect(decodeJwt(token).cnf).toEqual({ jkt: key.jkt });
  });
});

describe('RFC 9449 section 4.3: checking proofs (400 invalid_dpop_proof at the token endpoint)', () => {
  const cases: [string, () => Promise<string | string[]>][] = [
    ['typ other than dpop+jwt', () => proof(key, {}, { typ: 'JWT' })],
    ['no jwk', () => proof(key, {}, { jwk: undefined })],
    ['a private key in jwk', async () => proof(key, {}, { jwk: { ...key.jwk, d: 'AAAA' } })],
    ['a signature by another key', () => proof(key, {}, { jwk: other.jwk })],
    [
      'a tampered payload',
      async () => {
        const [h, , sig] = (await proof(key)).split('.');
        return `${h}.${Buffer.from(JSON.stringify({ htm: 'POST', htu: TOKEN_URL, iat: Math.floor(Date.now() / 1000), jti: 'x' })).toString('base64url')}.${sig}`;
      },
    ],
    [
      'alg none',
      async () => {
        const h = Buffer.from(JSON.stringify({ typ: 'dpop+jwt', alg: 'none', jwk: key.jwk })).toString('base64url');
        const b = Buffer.from(JSON.stringify({ htm: 'POST', htu: TOKEN_URL, iat: Math.floor(Date.now() / 1000), jti: 'n' })).toString(
          'base64url',
        );
        return `${h}.${b}.`;
      },
    ],
    [
      'alg HS256',
      async () => {
        const secret = new Uint8Array(32).fill(1);
        return new SignJWT({ htm: 'POST', htu: TOKEN_URL, iat: Math.floor(Date.now() / 1000), jti: 'h' })
          .setProtectedHeader({ typ: 'dpop+jwt', alg: 'HS256', jwk: { kty: 'oct', k: 'AQ' } as never })
          .sign(secret);
      },
    ],
    [
      'an algorithm not in dpop.algorithms (ES384 by default)',
      async () => {
        const k = await generateKeyPair('ES384', { extractable: true });
        return new SignJWT({ htm: 'POST', htu: TOKEN_URL, iat: Math.floor(Date.now() / 1000), jti: 'e' })
          .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES384', jwk: await exportJWK(k.publicKey) })
          .sign(k.privateKey);
      },
    ],
    ['no jti', () => proof(key, { jti: null })],
    ['a jti of 257 characters', () => proof(key, { jti: 'j'.repeat(257) })],
    ['htm GET', () => proof(key, { htm: 'GET' })],
    ['htm post (methods are case-sensitive)', () => proof(key, { htm: 'post' })],
    ['htu of another endpoint', () => proof(key, { htu: `${ISSUER}/oauth/revoke` })],
    ['htu of another host', () => proof(key, { htu: 'https://evil.example/oauth/token' })],
    ['htu that is not a URL', () => proof(key, { htu: 'token' })],
    ['iat 301 s old', () => proof(key, { iat: Math.floor(Date.now() / 1000) - 301 })],
    ['iat 60 s ahead', () => proof(key, { iat: Math.floor(Date.now() / 1000) + 60 })],
    ['two DPoP headers', async () => [await proof(key), await proof(key)]],
    ['two proofs joined by a comma', async () => `${await proof(key)}, ${await proof(key)}`],
    ['a value that is not a JWS', async () => 'a.b'],
    ['CR LF in the value', async () => `${await proof(key)}\r\nX: y`],
    ['a value over 8 KiB', async () => `${'a'.repeat(8200)}.b.c`],
    ['a header that is not JSON', async () => `${Buffer.from('{x').toString('base64url')}.e30.sig`],
  ];
  for (const [name, make] of cases) {
    it(`refuses ${name}`, async () => {
      const { provider } = setup();
      const r = await provider.token(ccRequest(await make()));
      expectTokenError(r, 'invalid_dpop_proof');
    });
  }

  it('accepts htu with a query and fragment left out, and normalized case and default port', async () => {
    const { provider } = setup();
    for (const htu of [TOKEN_URL, 'HTTPS://AUTH.EXAMPLE:443/oauth/token', `${TOKEN_URL}?x=1#f`]) {
      const r = await provider.token(ccRequest(await proof(key, { htu })));
      expect(r.status, htu).toBe(200);
    }
  });

  it('refuses a replayed proof (section 11.1), in another provider on the same store too', async () => {
    const { provider, stores } = setup();
    const p1 = await proof(key);
    expect((await provider.token(ccRequest(p1))).status).toBe(200);
    const again = await provider.token(ccRequest(p1));
    expectTokenError(again, 'invalid_dpop_proof');
    expect(json(again).error_description).toBe('The DPoP proof was already used');
    const second = new OAuth2Provider({ issuer: ISSUER, stores, dpop: { enabled: true } });
    expectTokenError(await second.token(ccRequest(p1)), 'invalid_dpop_proof');
  });

  it('of 20 concurrent requests with one proof exactly one gets a token', async () => {
    const { provider } = setup();
    const p1 = await proof(key);
    const rs = await Promise.all(Array.from({ length: 20 }, () => provider.token(ccRequest(p1))));
    expect(rs.filter((r) => r.status === 200)).toHaveLength(1);
  });
});

describe('RFC 9449 section 7: protected resources', () => {
  it('accepts Authorization: DPoP with a proof of the same key, ath and request', async () => {
    const { provider } = setup();
    const token = await dpopToken(provider, key);
    const r = await provider.verifyAccessToken(apiRequest(`DPoP ${token}`, await proof(key, { htm: 'GET', htu: API, ath: ath(token) })), [
      'read',
    ]);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.token.dpopJkt).toBe(key.jkt);
  });

  it('refuses a DPoP-bound token sent as a bearer token, with a DPoP challenge', async () => {
    const { provider } = setup();
    const token = await dpopToken(provider, key);
    const r = await provider.verifyAccessToken(apiRequest(`Bearer ${token}`), ['read']);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.response.status).toBe(401);
    expect(json(r.response).error).toBe('invalid_token');
    expect(r.response.headers['WWW-Authenticate']).toMatch(
      /^DPoP realm="oauth", error="invalid_token", error_description="[^"]+", algs="ES256 EdDSA PS256 RS256"$/,
    );
  });

  it('refuses bad proofs at the resource with 401 invalid_dpop_proof and a DPoP challenge', async () => {
    const { provider } = setup();
    const token = await dpopToken(provider, key);
    const bad: [string, () => Promise<string | undefined>][] = [
      ['no proof', async () => undefined],
      ['no ath', () => proof(key, { htm: 'GET', htu: API })],
      ['ath of another token', () => proof(key, { htm: 'GET', htu: API, ath: ath('other') })],
      ['another key', () => proof(other, { htm: 'GET', htu: API, ath: ath(token) })],
      ['htm POST', () => proof(key, { htm: 'POST', htu: API, ath: ath(token) })],
      ['htu of another path', () => proof(key, { htm: 'GET', htu: `${ISSUER}/api/other`, ath: ath(token) })],
      ['htu of another origin', () => proof(key, { htm: 'GET', htu: 'https://api.example/api/items', ath: ath(token) })],
    ];
    for (const [name, make] of bad) {
      const r = await provider.verifyAccessToken(apiRequest(`DPoP ${token}`, await make()), ['read']);
      expect(r.ok, name).toBe(false);
      if (r.ok) continue;
      expect(r.response.status, name).toBe(401);
      expect(json(r.response).error, name).toBe('invalid_dpop_proof');
      expect(r.response.headers['WWW-Authenticate'], name).toMatch(
        /^DPoP realm="oauth", error="invalid_dpop_proof", error_description="[\x20\x21\x23-\x5b\x5d-\x7e]+", algs="[^"]+"$/,
      );
    }
    // A replayed resource proof.
    const once = await proof(key, { htm: 'GET', htu: API, ath: ath(token) });
    expect((await provider.verifyAccessToken(apiRequest(`DPoP ${token}`, once), ['read'])).ok).toBe(true);
    const replay = await provider.verifyAccessToken(apiRequest(`DPoP ${token}`, once), ['read']);
    expect(replay.ok).toBe(false);
  });

  it('accepts the resource origins configured (dpop.resourceOrigins)', async () => {
    const { provider } = setup({ dpop: { enabled: true, resourceOrigins: ['https://api.example'] } });
    const token = await dpopToken(provider, key);
    const r = await provider.verifyAccessToken(
      apiRequest(`DPoP ${token}`, await proof(key, { htm: 'GET', htu: 'https://api.example/api/items', ath: ath(token) })),
      ['read'],
    );
    expect(r.ok).toBe(true);
  });

  it('refuses the DPoP scheme with a bearer token, and answers scope and expiry as usual', async () => {
    const { provider } = setup();
    const bearer = json(await provider.token(ccRequest())).access_token as string;
    const r = await provider.verifyAccessToken(
      apiRequest(`DPoP ${bearer}`, await proof(key, { htm: 'GET', htu: API, ath: ath(bearer) })),
      [],
    );
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.response.status).toBe(401);
      expect(json(r.response).error).toBe('invalid_token');
    }
    const token = await dpopToken(provider, key);
    const scope = await provider.verifyAccessToken(
      apiRequest(`DPoP ${token}`, await proof(key, { htm: 'GET', htu: API, ath: ath(token) })),
      ['write'],
    );
    expect(scope.ok).toBe(false);
    if (!scope.ok) {
      expect(scope.response.status).toBe(403);
      expect(scope.response.headers['WWW-Authenticate']).toMatch(
        /^DPoP realm="oauth", error="insufficient_scope", error_description="[^"]+", scope="write", algs=/,
      );
    }
    const unknown = await provider.verifyAccessToken(
      apiRequest(`DPoP ${'x'.repeat(43)}`, await proof(key, { htm: 'GET', htu: API, ath: ath('x'.repeat(43)) })),
      [],
    );
    expect(unknown.ok).toBe(false);
    if (!unknown.ok) expect(json(unknown.response).error).toBe('invalid_token');
  });

  it('offers both schemes when no token is sent, and refuses malformed DPoP authorization', async () => {
    const { provider } = setup();
    const none = await provider.verifyAccessToken({ method: 'GET', url: '/api/items', headers: {} }, []);
    expect(none.ok).toBe(false);
    if (!none.ok)
      expect(none.response.headers['WWW-Authenticate']).toBe('Bearer realm="oauth", DPoP realm="oauth", algs="ES256 EdDSA PS256 RS256"');
    for (const [authorization, status] of [
      ['DPoP ', 401],
      ['DPoP a b', 400],
      ['DPoP tok\r\nen', 400],
    ] as const) {
      const r = await provider.verifyAccessToken(apiRequest(authorization, await proof(key, { htm: 'GET', htu: API })), []);
      expect(r.ok, JSON.stringify(authorization)).toBe(false);
      if (!r.ok) {
        expect(r.response.status, JSON.stringify(authorization)).toBe(status);
        expect(r.response.headers['WWW-Authenticate']).not.toMatch(/[\r\n]/);
      }
    }
    const both = await provider.verifyAccessToken(
      { method: 'GET', url: '/api/items?access_token=abc', headers: { authorization: 'DPoP abc' } },
      [],
    );
    expect(both.ok).toBe(false);
    if (!both.ok) expect(both.response.status).toBe(400);
  });

  it('through the node adapter (requireOAuth): 200 with a proof, 401 with a bearer header', async () => {
    const { provider } = setup();
    const token = await dpopToken(provider, key);
    const { requireOAuth } = await import('../../src/index.js');
    const { createServer } = await import('node:http');
    const server = createServer((req, res) =>
      requireOAuth(provider, 'read')(req, res, () => {
        res.end('ok');
      }),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      // The proof names the issuer's origin (the resource origin configured by default).
      const ok = await fetch(`http://127.0.0.1:${port}/api/items`, {
        headers: { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu: API, ath: ath(token) }) },
      });
      expect(ok.status).toBe(200);
      const bearer = await fetch(`http://127.0.0.1:${port}/api/items`, { headers: { authorization: `Bearer ${token}` } });
      expect(bearer.status).toBe(401);
      expect(bearer.headers.get('www-authenticate')).toMatch(/^DPoP /);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('RFC 9449 sections 5 and 10: codes and refresh tokens', () => {
  async function code(p: P, clientId: string, extra: Record<string, string> = {}) {
    const pair = pkce();
    const q = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: CB,
      scope: 'read',
      code_challenge: pair.challenge,
      code_challenge_method: 'S256',
      ...extra,
    });
    const a = await p.authorize({ method: 'GET', url: `/oauth/authorize?${q}`, headers: {} });
    if (a.type !== 'consent') throw new Error(a.response.body);
    const done = await p.completeAuthorization(a.request, { approved: true, userId: 'u1' });
    const c = new URL(done.headers.Location!).searchParams.get('code');
    if (!c) throw new Error(done.headers.Location);
    return { code: c, verifier: pair.verifier, request: a.request };
  }
  const redeem = (p: P, clientId: string, c: { code: string; verifier: string }, dpop?: string, headers: Record<string, string> = {}) =>
    p.token(
      tokenRequest(
        {
          grant_type: 'authorization_code',
          code: c.code,
          redirect_uri: CB,
          code_verifier: c.verifier,
          ...(clientId === 'spa' ? { client_id: 'spa' } : {}),
        },
        dpop,
        headers,
      ),
    );

  it('dpop_jkt binds the code: redeemed only with a proof by that key', async () => {
    const { provider } = setup();
    const c1 = await code(provider, 'spa', { dpop_jkt: key.jkt });
    expect(c1.request.dpopJkt).toBe(key.jkt);
    expectTokenError(await redeem(provider, 'spa', c1, await proof(other)), 'invalid_dpop_proof');
    const c2 = await code(provider, 'spa', { dpop_jkt: key.jkt });
    expectTokenError(await redeem(provider, 'spa', c2), 'invalid_dpop_proof');
    const c3 = await code(provider, 'spa', { dpop_jkt: key.jkt });
    const ok = await redeem(provider, 'spa', c3, await proof(key));
    expect(ok.status).toBe(200);
    expect(json(ok).token_type).toBe('DPoP');
  });

  it('refuses a malformed dpop_jkt with a redirect', async () => {
    const { provider } = setup();
    for (const dpop_jkt of ['short', 'a'.repeat(44), `${'a'.repeat(42)}=`]) {
      const q = new URLSearchParams({
        client_id: 'spa',
        response_type: 'code',
        redirect_uri: CB,
        code_challenge: pkce().challenge,
        code_challenge_method: 'S256',
        dpop_jkt,
      });
      const a = await provider.authorize({ method: 'GET', url: `/oauth/authorize?${q}`, headers: {} });
      expect(a.type).toBe('response');
      if (a.type === 'response') {
        const loc = new URL(a.response.headers.Location!);
        expect(loc.searchParams.get('error')).toBe('invalid_request');
        expect(loc.searchParams.get('error_description')).toBe('dpop_jkt is malformed');
      }
    }
  });

  it("binds a public client's refresh token to the key; a wrong or missing proof leaves it usable", async () => {
    const { provider } = setup();
    const c = await code(provider, 'spa');
    const t = json(await redeem(provider, 'spa', c, await proof(key)));
    const refresh = (dpop?: string) =>
      provider.token(tokenRequest({ grant_type: 'refresh_token', refresh_token: t.refresh_token as string, client_id: 'spa' }, dpop));
    expectTokenError(await refresh(), 'invalid_dpop_proof');
    expectTokenError(await refresh(await proof(other)), 'invalid_dpop_proof');
    const ok = await refresh(await proof(key));
    expect(ok.status).toBe(200);
    expect(json(ok).token_type).toBe('DPoP');
    // The rotated refresh token is bound to the same key.
    const next = json(ok).refresh_token as string;
    const again = await provider.token(
      tokenRequest({ grant_type: 'refresh_token', refresh_token: next, client_id: 'spa' }, await proof(other)),
    );
    expectTokenError(again, 'invalid_dpop_proof');
  });

  it("does not bind a confidential client's refresh token (its client authentication binds it)", async () => {
    const { provider } = setup();
    const c = await code(provider, 'web');
    const t = json(await redeem(provider, 'web', c, await proof(key), { authorization: basic('web', SECRET) }));
    expect(t.token_type).toBe('DPoP');
    const r = await provider.token(
      tokenRequest({ grant_type: 'refresh_token', refresh_token: t.refresh_token as string }, undefined, {
        authorization: basic('web', SECRET),
      }),
    );
    expect(r.status).toBe(200);
    expect(json(r).token_type).toBe('Bearer');
  });

  it('a DPoP proof sent with a pushed authorization request binds the code (section 10.1)', async () => {
    const { provider } = setup({ par: { enabled: true } });
    const pair = pkce();
    const params = {
      client_id: 'spa',
      response_type: 'code',
      redirect_uri: CB,
      code_challenge: pair.challenge,
      code_challenge_method: 'S256',
    };
    const parUrl = `${ISSUER}/oauth/par`;
    const mismatch = await provider.pushedAuthorizationRequest({
      ...form({ ...params, dpop_jkt: other.jkt }, {}, '/oauth/par'),
      headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await proof(key, { htu: parUrl }) },
    });
    expectTokenError(mismatch, 'invalid_dpop_proof');
    const r = await provider.pushedAuthorizationRequest({
      ...form(params, {}, '/oauth/par'),
      headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await proof(key, { htu: parUrl }) },
    });
    expect(r.status).toBe(201);
    const a = await provider.authorize({
      method: 'GET',
      url: `/oauth/authorize?${new URLSearchParams({ client_id: 'spa', request_uri: json(r).request_uri as string })}`,
      headers: {},
    });
    if (a.type !== 'consent') throw new Error(a.response.body);
    expect(a.request.dpopJkt).toBe(key.jkt);
    const done = await provider.completeAuthorization(a.request, { approved: true, userId: 'u1' });
    const c = { code: new URL(done.headers.Location!).searchParams.get('code')!, verifier: pair.verifier };
    expectTokenError(await redeem(provider, 'spa', c, await proof(other)), 'invalid_dpop_proof');
  });
});

describe('RFC 9449 section 8: server nonces', () => {
  const nonce = { secret: 'n'.repeat(40), lifetime: 60 };

  it('asks for a nonce with use_dpop_nonce and DPoP-Nonce, then accepts it (in any process with the secret)', async () => {
    const { provider, stores } = setup({ dpop: { enabled: true, nonce } });
    const first = await provider.token(ccRequest(await proof(key)));
    expectTokenError(first, 'use_dpop_nonce');
    const n = first.headers['DPoP-Nonce']!;
    expect(n).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const ok = await provider.token(ccRequest(await proof(key, { nonce: n })));
    expect(ok.status).toBe(200);
    expect(ok.headers['DPoP-Nonce']).toBe(n);
    const peer = new OAuth2Provider({ issuer: ISSUER, stores, dpop: { enabled: true, nonce } });
    expect((await peer.token(ccRequest(await proof(key, { nonce: n })))).status).toBe(200);
    const stranger = new OAuth2Provider({ issuer: ISSUER, stores, dpop: { enabled: true, nonce: { secret: 'x'.repeat(40) } } });
    expectTokenError(await stranger.token(ccRequest(await proof(key, { nonce: n }))), 'use_dpop_nonce');
  });

  it('accepts the previous nonce for one more period, then asks again', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { provider } = setup({ dpop: { enabled: true, nonce } });
    const n = (await provider.token(ccRequest(await proof(key)))).headers['DPoP-Nonce']!;
    vi.setSystemTime(Date.now() + 60_000);
    expect((await provider.token(ccRequest(await proof(key, { nonce: n })))).status).toBe(200);
    vi.setSystemTime(Date.now() + 120_000);
    expectTokenError(await provider.token(ccRequest(await proof(key, { nonce: n }))), 'use_dpop_nonce');
  });

  it('at a resource: 401 use_dpop_nonce with a DPoP challenge and DPoP-Nonce', async () => {
    const { provider } = setup({ dpop: { enabled: true, nonce } });
    const n = (await provider.token(ccRequest(await proof(key)))).headers['DPoP-Nonce']!;
    const token = json(await provider.token(ccRequest(await proof(key, { nonce: n })))).access_token as string;
    const r = await provider.verifyAccessToken(
      apiRequest(`DPoP ${token}`, await proof(key, { htm: 'GET', htu: API, ath: ath(token) })),
      [],
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.response.status).toBe(401);
    expect(r.response.headers['DPoP-Nonce']).toBe(n);
    expect(r.response.headers['WWW-Authenticate']).toMatch(/^DPoP realm="oauth", error="use_dpop_nonce"/);
    const ok = await provider.verifyAccessToken(
      apiRequest(`DPoP ${token}`, await proof(key, { htm: 'GET', htu: API, ath: ath(token), nonce: n })),
      [],
    );
    expect(ok.ok).toBe(true);
  });
});

describe('DPoP configuration', () => {
  it('needs an ephemeral store, and checks its options', () => {
    const { ephemeral: _, ...rest } = createMemoryStores({ clients });
    expect(() => new OAuth2Provider({ issuer: ISSUER, stores: rest, dpop: { enabled: true } })).toThrow(ConfigurationError);
    const stores = createMemoryStores({ clients });
    const make = (dpop: unknown) => new OAuth2Provider({ issuer: ISSUER, stores, dpop: dpop as ProviderOptions['dpop'] });
    expect(() => make({ enabled: true, algorithms: ['HS256'] })).toThrow(TypeError);
    expect(() => make({ enabled: true, algorithms: [] })).toThrow(TypeError);
    expect(() => make({ enabled: true, nonce: { secret: 'short' } })).toThrow(/at least 32/);
    expect(() => make({ enabled: true, resourceOrigins: ['not a url'] })).toThrow(TypeError);
    expect(() => make({ enabled: true, maxAge: 0 })).toThrow(TypeError);
  });
});
