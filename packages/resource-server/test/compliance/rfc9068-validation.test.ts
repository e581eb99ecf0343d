/**
 * RFC 9068 (JWT Profile for OAuth 2.0 Access Tokens) section 4, the resource server's side: how
 * `createVerifier` validates a JWT access token. Tokens are signed here with jose directly, by an
 * issuer of the test's own (a JWKS on 127.0.0.1), so each rule is tested on its own.
 *
 * RFC 9068 section 2.1: "Authorization servers and resource servers conforming to this
 *   specification MUST include RS256 (as defined in [RFC7518]) among their supported signature
 *   algorithms."
 * RFC 9068 section 4: "Resource servers receiving a JWT access token MUST validate it in the
 *   following manner.
 *   - The resource server MUST verify that the "typ" header value is "at+jwt" or
 *     "application/at+jwt" and reject tokens carrying any other value.
 *   - If the JWT access token is encrypted, decrypt it using the keys and algorithms that the
 *     resource server specified during registration. If encryption was negotiated with the
 *     authorization server at registration time and the incoming JWT access token is not
 *     encrypted, the resource server SHOULD reject it.
 *   - The issuer identifier for the authorization server (which is typically obtained during
 *     discovery) MUST exactly match the value of the "iss" claim.
 *   - The resource server MUST validate that the "aud" claim contains a resource indicator value
 *     corresponding to an identifier the resource server expects for itself. The JWT access token
 *     MUST be rejected if "aud" does not contain a resource indicator of the current resource
 *     server as a valid audience.
 *   - The resource server MUST validate the signature of all incoming JWT access tokens according
 *     to [RFC7515] using the algorithm specified in the JWT "alg" Header Parameter. The resource
 *     server MUST reject any JWT in which the value of "alg" is "none". The resource server MUST
 *     use the keys provided by the authorization server.
 *   - The current time MUST be before the time represented by the "exp" claim. Implementers MAY
 *     provide for some small leeway, usually no more than a few minutes, to account for clock
 *     skew."
 * RFC 9068 section 4: "The resource server MUST handle errors as described in Section 3.1 of
 *   [RFC6750]. In particular, in case of any failure in the validation checks listed above, the
 *   authorization server response MUST include the error code "invalid_token"."
 * RFC 9068 section 2.2: iss, exp, aud, sub, client_id, iat and jti are each "REQUIRED".
 *
 * Portcullis registers no encryption with an authorization server, so an encrypted token (JWE) is
 * one it cannot read: refused as invalid_token.
 */
import { CompactEncrypt, exportJWK, generateKeyPair, type JWTPayload, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, requireOAuthFetch, type Verifier } from '../../src/index.js';
import { listen } from '../servers.js';

const AUD = 'https://api.example';
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers) await c();
});

type Alg = 'ES256' | 'RS256' | 'EdDSA';
interface Issuer {
  issuer: string;
  verifier: Verifier;
  sign(claims?: JWTPayload, header?: Record<string, unknown>, alg?: Alg): Promise<string>;
}

/** An issuer of the test's own with one key per algorithm in its JWKS, and a verifier for it. */
async function startIssuer(): Promise<Issuer> {
  const l = await listen();
  closers.push(l.close);
  const keys = new Map<Alg, Awaited<ReturnType<typeof generateKeyPair>>['privateKey']>();
  const jwks: Record<string, unknown>[] = [];
  for (const alg of ['ES256', 'RS256', 'EdDSA'] as const) {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    keys.set(alg, privateKey);
    jwks.push({ ...(await exportJWK(publicKey)), kid: `k-${alg}`, alg, use: 'sig' });
  }
  l.use((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: jwks })));
  const verifier = createVerifier({ issuer: l.url, audience: AUD, jwksUri: `${l.url}/jwks`, verifiedTokenCache: false });
  return {
    issuer: l.url,
    verifier,
    sign(claims = {}, header = {}, alg = 'ES256') {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({
        iss: l.url,
        aud: AUD,
        sub: 'u1',
        client_id: 'app',
        scope: 'read',
        jti: 'j1',
        iat: now,
        exp: now + 60,
        ...claims,
      })
        .setProtectedHeader({ alg, kid: `k-${alg}`, typ: 'at+jwt', ...header })
        .sign(keys.get(alg)!);
    },
  };
}

let as: Issuer;
beforeAll(async () => {
  as = await startIssuer();
});

async function expectRefused(token: string, what: string) {
  expect(await as.verifier.verify(token), what).toMatchObject({ ok: false, status: 401, error: 'invalid_token' });
}
async function expectAccepted(token: string, what: string) {
  expect((await as.verifier.verify(token)).ok, what).toBe(true);
}

describe('RFC 9068 section 2.1: RS256 is supported, beside ES256 and EdDSA', () => {
  it('a token signed with each verifies', async () => {
    for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) await expectAccepted(await as.sign({}, {}, alg), alg);
  });
});

describe('RFC 9068 section 4: typ', () => {
  it('"at+jwt" and "application/at+jwt" pass', async () => {
    await expectAccepted(await as.sign(), 'at+jwt');
    await expectAccepted(await as.sign({}, { typ: 'application/at+jwt' }), 'application/at+jwt');
    // Media type names are case-insensitive (RFC 7515 section 4.1.9, RFC 2045); section 3's own
    // example header is {"typ":"at+JWT",...}.
    await expectAccepted(await as.sign({}, { typ: 'at+JWT' }), 'at+JWT');
  });

  it('any other value, or none, is refused (an ID token or a plain JWT signed by the same key is not an access token)', async () => {
    for (const typ of ['JWT', 'jwt', 'id_token+jwt', 'at+jwt ', 'dpop+jwt', undefined]) {
      await expectRefused(await as.sign({}, { typ }), `typ ${String(typ)}`);
    }
  });
});

describe('RFC 9068 section 4: encryption', () => {
  it('an encrypted token (JWE), which no registration negotiated, is refused', async () => {
    const { publicKey } = await generateKeyPair('ECDH-ES', { extractable: true });
    const inner = await as.sign();
    const jwe = await new CompactEncrypt(new TextEncoder().encode(inner))
      .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', typ: 'at+jwt', cty: 'JWT' })
      .encrypt(publicKey);
    expect(jwe.split('.')).toHaveLength(5);
    await expectRefused(jwe, 'JWE');
  });
});

describe('RFC 9068 section 4: iss', () => {
  it('must match the issuer exactly: another issuer, a trailing slash, another case or scheme are refused', async () => {
    await expectAccepted(await as.sign({ iss: as.issuer }), 'exact');
    for (const iss of ['https://evil.example', `${as.issuer}/`, as.issuer.toUpperCase(), as.issuer.replace('http:', 'https:'), '']) {
      await expectRefused(await as.sign({ iss }), `iss ${iss}`);
    }
    await expectRefused(await as.sign({ iss: undefined }), 'no iss');
  });
});

describe('RFC 9068 section 4: aud', () => {
  it('passes when aud is, or contains, this resource; refused when it does not, or is missing', async () => {
    await expectAccepted(await as.sign({ aud: AUD }), 'aud string');
    await expectAccepted(await as.sign({ aud: ['https://other.example', AUD] }), 'aud array containing it');
    for (const aud of ['https://other.example', ['https://a.example', 'https://b.example'], `${AUD}/`, `${AUD}/sub`, []]) {
      await expectRefused(await as.sign({ aud }), `aud ${JSON.stringify(aud)}`);
    }
    await expectRefused(await as.sign({ aud: undefined }), 'no aud');
  });
});

describe('RFC 9068 section 4: the signature', () => {
  it('alg none is refused, also with a kid of the issuer', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: as.issuer, aud: AUD, sub: 'u1', client_id: 'app', jti: 'j', iat: now, exp: now + 60 };
    const none = new UnsecuredJWT(claims).encode();
    const [, payload] = none.split('.');
    const typed = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid: 'k-ES256' })).toString('base64url')}.${payload}.`;
    await expectRefused(none, 'alg none');
    await expectRefused(typed, 'alg none with typ and kid');
  });

  it('only the issuer keys count: a key of someone else under the issuer kid, HS256 over a public key, a tampered payload', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ iss: as.issuer, aud: AUD, sub: 'u1', client_id: 'app', jti: 'j', iat: now, exp: now + 60 })
      .setProtectedHeader({ alg: 'ES256', kid: 'k-ES256', typ: 'at+jwt' })
      .sign(privateKey);
    await expectRefused(forged, 'another key under the issuer kid');
    const hmac = await new SignJWT({ iss: as.issuer, aud: AUD, sub: 'u1', client_id: 'app', jti: 'j', iat: now, exp: now + 60 })
      .setProtectedHeader({ alg: 'HS256', kid: 'k-ES256', typ: 'at+jwt' })
      .sign(new TextEncoder().encode('a shared secret the attacker chose, 32+ bytes long'));
    await expectRefused(hmac, 'HS256');
    const [h, p, s] = (await as.sign()).split('.') as [string, string, string];
    const more = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), scope: 'read admin' })).toString(
      'base64url',
    );
    await expectRefused(`${h}.${more}.${s}`, 'tampered payload');
    await expectRefused(await as.sign({}, { kid: 'unknown' }), 'unknown kid');
  });
});

describe('RFC 9068 section 4: exp, with a small leeway', () => {
  it('refused once exp has passed by more than the leeway (30 s by default); accepted within it; refused without exp', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectAccepted(await as.sign({ exp: now - 10 }), 'within 30 s');
    await expectRefused(await as.sign({ exp: now - 120 }), 'two minutes ago');
    await expectRefused(await as.sign({ exp: undefined }), 'no exp');
    // The leeway is bounded: "usually no more than a few minutes".
    expect(() => createVerifier({ issuer: as.issuer, audience: AUD, clockTolerance: 301 })).toThrow(TypeError);
    const strict = createVerifier({
      issuer: as.issuer,
      audience: AUD,
      jwksUri: `${as.issuer}/jwks`,
      clockTolerance: 0,
      verifiedTokenCache: false,
    });
    expect(await strict.verify(await as.sign({ exp: now - 2 }))).toMatchObject({ ok: false, error: 'invalid_token' });
  });
});

describe('RFC 9068 section 2.2: the required claims', () => {
  it('a token missing any of sub, client_id, iat or jti is refused', async () => {
    for (const claim of ['sub', 'client_id', 'iat', 'jti']) await expectRefused(await as.sign({ [claim]: undefined }), `no ${claim}`);
  });
});

describe('RFC 9068 section 4 with RFC 6750 section 3.1: the error response', () => {
  it('every failure answers 401 with error="invalid_token" in the challenge and the body', async () => {
    const check = requireOAuthFetch(as.verifier, 'read');
    const bad = [
      await as.sign({}, { typ: 'JWT' }),
      await as.sign({ iss: 'https://evil.example' }),
      await as.sign({ aud: 'https://other.example' }),
    ];
    for (const token of bad) {
      const r = await check(new Request('https://api.example/x', { headers: { authorization: `Bearer ${token}` } }));
      if (r.ok) throw new Error('expected a refusal');
      expect(r.response.status).toBe(401);
      expect(r.response.headers.get('www-authenticate')).toMatch(
        /^Bearer realm="api", error="invalid_token", error_description="[\x20\x21\x23-\x5b\x5d-\x7e]+"$/,
      );
      expect(await r.response.json()).toMatchObject({ error: 'invalid_token' });
    }
  });
});
