/**
 * RFC 9068 (JSON Web Token (JWT) Profile for OAuth 2.0 Access Tokens), the authorization server's
 * side: what Portcullis puts in the JWT access tokens it issues, and what it publishes so that
 * resource servers can check them. The resource server's side (section 4's validation rules) is
 * in packages/resource-server/test/compliance/rfc9068-validation.test.ts.
 *
 * RFC 9068 section 2.1: "JWT access tokens MUST be signed. Although JWT access tokens can use any
 *   signing algorithm, use of asymmetric cryptography is RECOMMENDED as it simplifies the process
 *   of acquiring validation information for resource servers (see Section 4). JWT access tokens
 *   MUST NOT use "none" as the signing algorithm. See Section 4 for more details."
 * RFC 9068 section 2.1: "Authorization servers and resource servers conforming to this
 *   specification MUST include RS256 (as defined in [RFC7518]) among their supported signature
 *   algorithms."
 * RFC 9068 section 2.1: "This specification registers the "application/at+jwt" media type, which
 *   can be used to indicate that the content is a JWT access token. JWT access tokens MUST include
 *   this media type in the "typ" header parameter to explicitly declare that the JWT represents an
 *   access token complying with this profile. Per the definition of "typ" in Section 4.1.9 of
 *   [RFC7515], it is RECOMMENDED that the "application/" prefix be omitted. Therefore, the "typ"
 *   value used SHOULD be "at+jwt"."
 * RFC 9068 section 2.2: "The following claims are used in the JWT access token data structure."
 *   iss, exp, aud, sub, client_id, iat and jti are each "REQUIRED".
 * RFC 9068 section 2.2, sub: "In cases of access tokens obtained through grants where a resource
 *   owner is involved, such as the authorization code grant, the value of "sub" SHOULD correspond
 *   to the subject identifier of the resource owner. In cases of access tokens obtained through
 *   grants where no resource owner is involved, such as the client credentials grant, the value of
 *   "sub" SHOULD correspond to an identifier the authorization server uses to indicate the client
 *   application."
 * RFC 9068 section 2.2, iat: "This claim identifies the time at which the JWT access token was
 *   issued."
 * RFC 9068 section 2.2.1: "The claims listed in this section MAY be issued in the context of
 *   authorization grants involving the resource owner and reflect the types and strength of
 *   authentication in the access token that the authentication server enforced prior to returning
 *   the authorization response to the client. Their values are fixed and remain the same across
 *   all access tokens that derive from a given authorization response, whether the access token
 *   was obtained directly in the response (e.g., via the implicit flow) or after one or more token
 *   exchanges (e.g., obtaining a fresh access token using a refresh token or exchanging one access
 *   token for another via [RFC8693] procedures)." auth_time: "OPTIONAL - as defined in Section 2
 *   of [OpenID.Core]."
 * RFC 9068 section 2.2.3: "If an authorization request includes a scope parameter, the
 *   corresponding issued JWT access token SHOULD include a "scope" claim as defined in Section 4.2
 *   of [RFC8693]." "All the individual scope strings in the "scope" claim MUST have meaning for the
 *   resources indicated in the "aud" claim."
 * RFC 9068 section 3: "If the request includes a "resource" parameter (as defined in [RFC8707]),
 *   the resulting JWT access token "aud" claim SHOULD have the same value as the "resource"
 *   parameter in the request."
 * RFC 9068 section 3: "If the request does not include a "resource" parameter, the authorization
 *   server MUST use a default resource indicator in the "aud" claim."
 * RFC 9068 section 4: "For the purpose of facilitating validation data retrieval, it is RECOMMENDED
 *   here that authorization servers sign JWT access tokens with an asymmetric algorithm."
 * RFC 9068 section 4: "Authorization servers SHOULD use [RFC8414] to advertise to resource servers
 *   their signing keys via "jwks_uri" and what "iss" claim value to expect via the "issuer"
 *   metadata value."
 * RFC 9068 section 4: "The resource server MUST handle errors as described in Section 3.1 of
 *   [RFC6750]. In particular, in case of any failure in the validation checks listed above, the
 *   authorization server response MUST include the error code "invalid_token"." (Portcullis's own
 *   resource check, `verifyAccessToken`, is such a resource server.)
 * RFC 9068 section 5: "To prevent cross-JWT confusion, authorization servers MUST use a distinct
 *   identifier as an "aud" claim value to uniquely identify access tokens issued by the same issuer
 *   for distinct resources."
 */
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { generateClientSecret, type OAuth2Provider, type OAuthRequest, type ProviderOptions } from '../../src/index.js';
import { basic, body, CB, exchange, form, get, getCode, ISSUER, location, makeProvider, pkce, SECRET } from '../helpers.js';

const KEK = generateClientSecret();
const API = 'https://api.example/';
const CAL = 'https://cal.example/';
const CONF = basic('conf', SECRET);
const REQUIRED = ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti'] as const;

function setup(options: Partial<ProviderOptions> = {}) {
  return makeProvider({
    accessTokenFormat: 'jwt',
    jwt: { keyEncryptionKey: KEK },
    resources: [{ uri: API }, { uri: CAL, scopes: ['read'] }],
    ...options,
  });
}

async function verifier(provider: OAuth2Provider) {
  const metadata = body(await provider.metadata());
  const jwks = await provider.handle(get(new URL(String(metadata.jwks_uri)).pathname));
  return { set: createLocalJWKSet(JSON.parse(jwks!.body) as { keys: [] }), issuer: String(metadata.issuer) };
}

function post(pairs: readonly (readonly [string, string])[], headers: Record<string, string> = { authorization: CONF }): OAuthRequest {
  const q = new URLSearchParams();
  for (const [k, v] of pairs) q.append(k, v);
  return {
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: q.toString(),
  };
}

/** One access token from each grant that issues JWTs: [grant, token, the user or null]. */
async function everyGrant(provider: OAuth2Provider): Promise<[string, string, string | null][]> {
  const out: [string, string, string | null][] = [];
  const { code, verifier } = await getCode(provider);
  const code1 = body(await exchange(provider, code, verifier));
  out.push(['authorization_code', String(code1.access_token), 'u-alice']);
  const refreshed = body(
    await provider.token(form({ grant_type: 'refresh_token', refresh_token: String(code1.refresh_token) }, { authorization: CONF })),
  );
  out.push(['refresh_token', String(refreshed.access_token), 'u-alice']);
  const cc = body(await provider.token(form({ grant_type: 'client_credentials', scope: 'read' }, { authorization: CONF })));
  out.push(['client_credentials', String(cc.access_token), null]);
  const pw = body(
    await provider.token(
      form({ grant_type: 'password', username: 'alice', password: 'correct horse', scope: 'read' }, { authorization: CONF }),
    ),
  );
  out.push(['password', String(pw.access_token), 'u-alice']);
  const q = new URLSearchParams({ response_type: 'token', client_id: 'conf', redirect_uri: CB, scope: 'read', state: 's' });
  const a = await provider.authorize(get(`/oauth/authorize?${q}`));
  if (a.type !== 'consent') throw new Error('expected consent');
  const implicit = new URLSearchParams(
    location(await provider.completeAuthorization(a.request, { approved: true, userId: 'u-alice' })).hash.slice(1),
  );
  out.push(['implicit', implicit.get('access_token')!, 'u-alice']);
  return out;
}

describe('RFC 9068 section 2.1: the header', () => {
  it('every token is signed (never alg none), asymmetrically, with typ at+jwt, and verifies against the published keys', async () => {
    const { provider } = setup();
    const tokens = await everyGrant(provider);
    const { set, issuer } = await verifier(provider);
    for (const [grant, token] of tokens) {
      const header = decodeProtectedHeader(token);
      expect(header.typ, grant).toBe('at+jwt');
      expect(header.alg, grant).toBe('ES256');
      expect(header.kid, grant).toEqual(expect.any(String));
      const { protectedHeader } = await jwtVerify(token, set, { issuer, typ: 'at+jwt', algorithms: ['ES256'] });
      expect(protectedHeader.alg).not.toBe('none');
    }
  });

  it('RS256 is supported (and EdDSA): the same rules hold for tokens signed with each', async () => {
    for (const algorithm of ['RS256', 'EdDSA'] as const) {
      const { provider } = setup({ jwt: { keyEncryptionKey: KEK, algorithm } });
      const token = String(body(await provider.token(form({ grant_type: 'client_credentials' }, { authorization: CONF }))).access_token);
      const { set, issuer } = await verifier(provider);
      expect(decodeProtectedHeader(token)).toMatchObject({ alg: algorithm, typ: 'at+jwt' });
      await expect(jwtVerify(token, set, { issuer, typ: 'at+jwt', algorithms: [algorithm] })).resolves.toBeTruthy();
    }
  });

  it('the published keys are public keys only: no private member reaches the JWKS', async () => {
    const { provider } = setup({ jwt: { keyEncryptionKey: KEK, algorithm: 'RS256' } });
    await provider.token(form({ grant_type: 'client_credentials' }, { authorization: CONF }));
    const keys = (body(await provider.jwks()) as { keys: Record<string, unknown>[] }).keys;
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(k).not.toHaveProperty(member);
  });
});

describe('RFC 9068 section 2.2: the required claims', () => {
  it('every grant gives iss, exp, aud, sub, client_id, iat and jti; sub is the user, or the client when there is none', async () => {
    const { provider } = setup();
    const before = Math.floor(Date.now() / 1000);
    const tokens = await everyGrant(provider);
    const after = Math.floor(Date.now() / 1000);
    const jtis = new Set<string>();
    for (const [grant, token, user] of tokens) {
      const claims = decodeJwt(token);
      for (const name of REQUIRED) expect(claims, `${grant}: ${name}`).toHaveProperty(name);
      expect(claims.iss, grant).toBe(ISSUER);
      expect(claims.client_id, grant).toBe('conf');
      expect(claims.sub, grant).toBe(user ?? 'conf');
      expect(claims.aud, grant).toBe(ISSUER);
      expect(claims.iat, grant).toBeGreaterThanOrEqual(before);
      expect(claims.iat, grant).toBeLessThanOrEqual(after);
      expect(claims.exp, grant).toBe(claims.iat! + 3600);
      jtis.add(String(claims.jti));
    }
    expect(jtis.size).toBe(tokens.length);
  });
});

describe('RFC 9068 section 2.2.1: authentication information', () => {
  it('auth_time is the same in every token derived from one authorization response, refreshed or not', async () => {
    const { provider } = setup();
    const authTime = new Date(Date.now() - 600_000);
    const { verifier: v, challenge } = pkce();
    const q = new URLSearchParams({
      response_type: 'code',
      client_id: 'conf',
      redirect_uri: CB,
      scope: 'read',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const a = await provider.authorize(get(`/oauth/authorize?${q}`));
    if (a.type !== 'consent') throw new Error('expected consent');
    const code = location(
      await provider.completeAuthorization(a.request, { approved: true, userId: 'u-alice', authTime }),
    ).searchParams.get('code')!;
    let t = body(await exchange(provider, code, v));
    const expected = Math.floor(authTime.getTime() / 1000);
    for (let i = 0; i < 3; i++) {
      expect(decodeJwt(String(t.access_token)).auth_time).toBe(expected);
      t = body(
        await provider.token(form({ grant_type: 'refresh_token', refresh_token: String(t.refresh_token) }, { authorization: CONF })),
      );
    }
    // Not known, not claimed: a client_credentials token has no resource owner to have authenticated.
    const cc = String(body(await provider.token(form({ grant_type: 'client_credentials' }, { authorization: CONF }))).access_token);
    expect(decodeJwt(cc)).not.toHaveProperty('auth_time');
  });
});

describe('RFC 9068 section 2.2.3: scope', () => {
  it('a request with a scope gives a scope claim; without one, the default scope is claimed', async () => {
    const { provider } = setup();
    const asked = String(
      body(await provider.token(form({ grant_type: 'client_credentials', scope: 'write read' }, { authorization: CONF }))).access_token,
    );
    expect(decodeJwt(asked).scope).toBe('write read');
    const defaulted = String(body(await provider.token(form({ grant_type: 'client_credentials' }, { authorization: CONF }))).access_token);
    expect(decodeJwt(defaulted).scope).toBe('read');
  });

  it('every scope in the claim has meaning for the aud: a resource that takes only read gets only read', async () => {
    const { provider } = setup();
    const r = await provider.token(
      post([
        ['grant_type', 'client_credentials'],
        ['scope', 'read write'],
        ['resource', CAL],
      ]),
    );
    expect(r.status).toBe(200);
    const claims = decodeJwt(String(body(r).access_token));
    expect(claims.aud).toBe(CAL);
    expect(claims.scope).toBe('read');
    expect(body(r).scope).toBe('read');
  });
});

describe('RFC 9068 section 3: the audience', () => {
  it('aud is the resource parameter; without one, a default resource indicator (the configured audience)', async () => {
    const { provider } = setup({ jwt: { keyEncryptionKey: KEK, audience: 'https://default-api.example/' } });
    const named = await provider.token(
      post([
        ['grant_type', 'client_credentials'],
        ['resource', API],
      ]),
    );
    expect(decodeJwt(String(body(named).access_token)).aud).toBe(API);
    const { code, verifier: v } = await getCode(provider);
    const viaCode = body(await exchange(provider, code, v));
    expect(decodeJwt(String(viaCode.access_token)).aud).toBe('https://default-api.example/');
  });
});

describe('RFC 9068 section 4: what the authorization server publishes, and its own resource check', () => {
  it('metadata names the issuer the tokens carry and a jwks_uri that serves the signing keys', async () => {
    const { provider } = setup();
    const token = String(body(await provider.token(form({ grant_type: 'client_credentials' }, { authorization: CONF }))).access_token);
    const metadata = body(await provider.metadata());
    expect(metadata.issuer).toBe(decodeJwt(token).iss);
    expect(metadata.jwks_uri).toBe(`${ISSUER}/oauth/jwks`);
    const { set } = await verifier(provider);
    await expect(jwtVerify(token, set, { issuer: ISSUER, typ: 'at+jwt' })).resolves.toBeTruthy();
  });

  it('verifyAccessToken answers invalid_token for an unsigned (alg none) token, a tampered one, and one for another audience', async () => {
    const { provider } = setup();
    const token = String(
      body(
        await provider.token(
          post([
            ['grant_type', 'client_credentials'],
            ['resource', API],
          ]),
        ),
      ).access_token,
    );
    const claims = decodeJwt(token);
    const unsigned = new UnsecuredJWT({ ...claims }).encode();
    const [h, , s] = token.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, scope: 'read write admin' })).toString('base64url')}.${s}`;
    const check = (t: string, audience: string) =>
      provider.verifyAccessToken(get('/api', { authorization: `Bearer ${t}` }), [], { audience });
    expect((await check(token, API)).ok).toBe(true);
    for (const [t, audience, what] of [
      [unsigned, API, 'alg none'],
      [tampered, API, 'tampered claims'],
      [token, CAL, 'another audience'],
    ] as const) {
      const r = await check(t, audience);
      expect(r.ok, what).toBe(false);
      if (!r.ok) {
        expect(r.response.status, what).toBe(401);
        expect(r.response.headers['WWW-Authenticate'], what).toContain('error="invalid_token"');
      }
    }
  });
});

describe('RFC 9068 section 5: distinct audiences for distinct resources', () => {
  it('tokens for two resources of one issuer carry two distinct aud values, and neither passes for the other', async () => {
    const { provider } = setup();
    const forApi = String(
      body(
        await provider.token(
          post([
            ['grant_type', 'client_credentials'],
            ['resource', API],
          ]),
        ),
      ).access_token,
    );
    const forCal = String(
      body(
        await provider.token(
          post([
            ['grant_type', 'client_credentials'],
            ['resource', CAL],
          ]),
        ),
      ).access_token,
    );
    expect(decodeJwt(forApi).aud).toBe(API);
    expect(decodeJwt(forCal).aud).toBe(CAL);
    const { set, issuer } = await verifier(provider);
    await expect(jwtVerify(forApi, set, { issuer, audience: CAL, typ: 'at+jwt' })).rejects.toThrow(/aud/);
    await expect(jwtVerify(forCal, set, { issuer, audience: API, typ: 'at+jwt' })).rejects.toThrow(/aud/);
  });
});
