/**
 * Interop: JWT access tokens issued by a real core provider (over loopback HTTP, RFC 8707
 * `resource`) are judged alike by this package, by jose directly (`createRemoteJWKSet` +
 * `jwtVerify` with `typ: 'at+jwt'`) and by oauth4webapi's `validateJwtAccessToken`: all accept a
 * good token, all refuse one for another audience, an expired one and one with `typ: JWT`.
 */
import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier } from '../src/index.js';
import { startOwnIssuer, startProvider } from './servers.js';

const AUD = 'https://api.example';
const OTHER = 'https://other.example';
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c();
});

type Outcome = { ok: true; claims: Record<string, unknown> } | { ok: false; reason: string };

/** The three verifiers for one issuer, each answering the same `Outcome` shape. */
async function verifiers(issuer: string, jwksUri?: string) {
  const as: oauth.AuthorizationServer = jwksUri
    ? { issuer, jwks_uri: jwksUri }
    : await oauth.processDiscoveryResponse(
        new URL(issuer),
        await oauth.discoveryRequest(new URL(issuer), { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true }),
      );
  expect(as.jwks_uri).toBeTypeOf('string');
  const jwks = createRemoteJWKSet(new URL(as.jwks_uri!));
  return {
    async ours(token: string, audience = AUD): Promise<Outcome> {
      const r = await createVerifier({ issuer, audience, clockTolerance: 0, ...(jwksUri ? { jwksUri } : {}) }).verify(token);
      return r.ok ? { ok: true, claims: { ...r.token.claims } } : { ok: false, reason: `${r.status} ${r.error}` };
    },
    async jose(token: string, audience = AUD): Promise<Outcome> {
      try {
        const { payload } = await jwtVerify(token, jwks, { typ: 'at+jwt', issuer, audience, clockTolerance: 0 });
        return { ok: true, claims: { ...payload } };
      } catch (err) {
        if (!(err instanceof joseErrors.JOSEError)) throw err;
        const claim = err instanceof joseErrors.JWTClaimValidationFailed || err instanceof joseErrors.JWTExpired ? ` ${err.claim}` : '';
        return { ok: false, reason: `${err.code}${claim}` };
      }
    },
    async oauth4webapi(token: string, audience = AUD): Promise<Outcome> {
      const request = new Request('http://127.0.0.1/api', { headers: { authorization: `Bearer ${token}` } });
      try {
        const claims = await oauth.validateJwtAccessToken(as, request, audience, {
          [oauth.allowInsecureRequests]: true,
          [oauth.clockTolerance]: 0,
        });
        return { ok: true, claims: { ...claims } };
      } catch (err) {
        if (!(err instanceof Error)) throw err;
        return { ok: false, reason: `${(err as Error & { code?: string }).code ?? err.name}: ${err.message}` };
      }
    },
  };
}

describe('tokens of a core provider (RFC 8707 resources, JWT format) verified three ways', () => {
  let as: Awaited<ReturnType<typeof startProvider>>;
  let v: Awaited<ReturnType<typeof verifiers>>;
  beforeAll(async () => {
    as = await startProvider({
      resources: [
        { uri: AUD, accessTokenFormat: 'jwt' },
        { uri: OTHER, accessTokenFormat: 'jwt' },
      ],
    });
    closers.push(as.close);
    v = await verifiers(as.issuer);
  });

  it('a token for this API: accepted by all three, with the same claims', async () => {
    const token = await as.token('read write', AUD);
    const results = [await v.ours(token), await v.jose(token), await v.oauth4webapi(token)];
    for (const r of results) expect(r, JSON.stringify(r)).toMatchObject({ ok: true });
    const [ours, jose, o4w] = results.map((r) => (r.ok ? r.claims : {}));
    expect(ours).toMatchObject({ iss: as.issuer, aud: AUD, client_id: 'app', sub: 'app', scope: 'read write' });
    expect(jose).toEqual(ours);
    expect(o4w).toEqual(ours);
  });

  it('a token for another resource: refused by all three (wrong audience)', async () => {
    const token = await as.token('read', OTHER);
    expect(await v.ours(token)).toEqual({ ok: false, reason: '401 invalid_token' });
    expect(await v.jose(token)).toEqual({ ok: false, reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED aud' });
    const o4w = await v.oauth4webapi(token);
    expect(o4w.ok).toBe(false);
    if (!o4w.ok) expect(o4w.reason).toMatch(/aud/);
    // Control: the same token is good for the resource it was issued for.
    for (const r of [await v.ours(token, OTHER), await v.jose(token, OTHER), await v.oauth4webapi(token, OTHER)]) {
      expect(r.ok).toBe(true);
    }
  });

  it('an expired token (2 s lifetime, no skew allowed): accepted by all three, then refused by all three', async () => {
    const short = await startProvider({ audience: AUD, lifetimes: { accessToken: 2 } });
    closers.push(short.close);
    const sv = await verifiers(short.issuer);
    const token = await short.token();
    for (const r of [await sv.ours(token), await sv.jose(token), await sv.oauth4webapi(token)]) expect(r.ok).toBe(true);
    const { exp } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number };
    await new Promise((r) => setTimeout(r, Math.max(0, exp * 1000 - Date.now()) + 100));
    expect(await sv.ours(token)).toEqual({ ok: false, reason: '401 invalid_token' });
    expect(await sv.jose(token)).toEqual({ ok: false, reason: 'ERR_JWT_EXPIRED exp' });
    const o4w = await sv.oauth4webapi(token);
    expect(o4w.ok).toBe(false);
    if (!o4w.ok) expect(o4w.reason).toMatch(/^OAUTH_JWT_TIMESTAMP_CHECK_FAILED: .*"exp"/);
  });
});

describe('typ (RFC 9068 section 4), with a key of the test own', () => {
  it('typ JWT: refused by all three; the same claims with typ at+jwt are accepted by all three', async () => {
    const own = await startOwnIssuer();
    closers.push(own.close);
    const v = await verifiers(own.issuer, own.jwksUri);
    const good = await own.sign();
    for (const r of [await v.ours(good), await v.jose(good), await v.oauth4webapi(good)])
      expect(r, JSON.stringify(r)).toMatchObject({ ok: true });
    const bad = await own.sign({}, { typ: 'JWT' });
    expect(await v.ours(bad)).toEqual({ ok: false, reason: '401 invalid_token' });
    expect(await v.jose(bad)).toEqual({ ok: false, reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED typ' });
    const o4w = await v.oauth4webapi(bad);
    expect(o4w.ok).toBe(false);
    if (!o4w.ok) expect(o4w.reason).toMatch(/typ/);
  });
});
