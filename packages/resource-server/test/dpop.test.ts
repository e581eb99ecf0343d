/**
 * RFC 9449 (DPoP) at the resource server, against a real core provider with `dpop: { enabled: true }`
 * over HTTP on 127.0.0.1: JWT access tokens (`cnf.jkt`) and opaque ones through introspection
 * (`token_type: "DPoP"`, `cnf.jkt`), through the node adapter and the Fetch adapter.
 *
 * RFC 9449 section 4.3: one DPoP header, typ dpop+jwt, an asymmetric accepted alg, a public jwk,
 *   a valid signature, jti, htm and htu of the request, a fresh iat, ath of the token, and the key
 *   the token is bound to.
 * RFC 9449 section 7.1: a DPoP-bound token sent as a bearer token is refused; errors carry
 *   `WWW-Authenticate: DPoP ... algs="..."`; section 7.2: a request without a token is offered both.
 * RFC 9449 section 8: use_dpop_nonce with a DPoP-Nonce header.
 * RFC 9449 section 11.1: a proof's jti is refused when seen again.
 */
import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { createMemoryStores } from '@portcullis/core';
import { type CryptoKey, calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryReplayStore } from '../src/dpop.js';
import { authenticate, createVerifier, type DpopReplayStore, requireOAuthFetch, type Verifier } from '../src/index.js';
import { API_SECRET, rawGet, startApi, startProvider } from './servers.js';

const AUD = 'https://api.example';
const ALGS = 'algs="ES256 EdDSA PS256 RS256"';
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers.reverse()) await c();
});

interface Key {
  privateKey: CryptoKey;
  jwk: JWK;
  alg: string;
  jkt: string;
}
async function newKey(alg: 'ES256' | 'ES384' | 'EdDSA' = 'ES256'): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk, alg, jkt: await calculateJwkThumbprint(jwk, 'sha256') };
}

let jtis = 0;
const ath = (token: string) => createHash('sha256').update(token).digest('base64url');
/** A proof; `claims` members set to `undefined` are left out. */
async function proof(key: Key, claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  const payload: Record<string, unknown> = { jti: `p-${++jtis}-${Math.random()}`, iat: Math.floor(Date.now() / 1000), ...claims };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  return new SignJWT(payload).setProtectedHeader({ typ: 'dpop+jwt', alg: key.alg, jwk: key.jwk, ...header }).sign(key.privateKey);
}
/** A proof for GET `url` with `token`. */
const proofFor = (key: Key, url: string, token: string, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
  proof(key, { htm: 'GET', htu: url, ath: ath(token), ...claims }, header);

interface Answer {
  status: number;
  challenge: string | null;
  nonce: string | null;
  body: Record<string, unknown>;
}
async function call(url: string, headers: Record<string, string>, method = 'GET'): Promise<Answer> {
  const r = await fetch(url, { method, headers });
  return {
    status: r.status,
    challenge: r.headers.get('www-authenticate'),
    nonce: r.headers.get('dpop-nonce'),
    body: (await r.json()) as Record<string, unknown>,
  };
}
const dpopCall = (url: string, token: string, p?: string) => call(url, { authorization: `DPoP ${token}`, ...(p ? { dpop: p } : {}) });

/** Status, error and the DPoP challenge (closed character set, `algs` last before resource_metadata). */
function expectDpopError(r: Answer, status: number, error: string) {
  expect(r.body.error).toBe(error);
  expect(r.status).toBe(status);
  expect(r.challenge).toMatch(
    new RegExp(
      `^DPoP realm="api", error="${error}", error_description="[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]*"(, scope="[a-z ]+")?, ${ALGS}$`,
    ),
  );
}

/** A protected API through the Fetch adapter: node request → Fetch `Request` at `http://127.0.0.1:port`. */
async function startFetchApi(make: (origin: string) => Verifier): Promise<{ url: string; verifier: Verifier; close(): Promise<void> }> {
  let handle: (req: IncomingMessage, res: ServerResponse) => void = (_q, s) => s.writeHead(503).end();
  const server: Server = createServer((q, s) => handle(q, s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const verifier = make(url);
  const check = requireOAuthFetch(verifier, 'read');
  handle = (req, res) => {
    const headers = new Headers();
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    void check(new Request(`${url}${req.url}`, { method: req.method, headers })).then(async (r) => {
      if (r.ok) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(r.token));
        return;
      }
      res.writeHead(r.response.status, Object.fromEntries(r.response.headers)).end(await r.response.text());
    });
  };
  return {
    url,
    verifier,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Raw bytes on a socket (for header values no HTTP client sends); answers the status line's code, or 0. */
function rawRequest(url: string, head: string): Promise<number> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve(0);
    }, 5000);
    s.on('connect', () => s.write(head));
    s.on('data', (c) => {
      data += c.toString('latin1');
      if (data.includes('\r\n\r\n')) {
        clearTimeout(timer);
        s.destroy();
        resolve(Number(data.slice(9, 12)));
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Number(data.slice(9, 12)) || 0);
    });
  });
}

describe('DPoP-bound JWT access tokens from a core provider', () => {
  let as: Awaited<ReturnType<typeof startProvider>>;
  let api: Awaited<ReturnType<typeof startApi>>;
  let fetchApi: Awaited<ReturnType<typeof startFetchApi>>;
  let key: Key;
  let token: string;
  const READ = `${AUD}/api/read`;

  beforeAll(async () => {
    as = await startProvider({ audience: AUD, dpop: true });
    closers.push(as.close);
    // dpop: {} takes the audience's origin (https://api.example) as the htu origin.
    api = await startApi(createVerifier({ issuer: as.issuer, audience: AUD, dpop: {} }), as.issuer);
    closers.push(api.close);
    fetchApi = await startFetchApi((origin) => createVerifier({ issuer: as.issuer, audience: AUD, dpop: { origins: [origin] } }));
    closers.push(fetchApi.close);
    key = await newKey();
    token = await as.token('read', undefined, await proof(key, { htm: 'POST', htu: `${as.issuer}/oauth/token` }));
  });

  it('the provider binds the JWT to the key (cnf.jkt)', () => {
    expect(decodeJwt(token).cnf).toEqual({ jkt: key.jkt });
  });

  it('node adapter: Authorization DPoP with a valid proof is 200, req.oauth.dpopJkt is the key', async () => {
    const r = await dpopCall(`${api.url}/api/read`, token, await proofFor(key, READ, token));
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ clientId: 'app', source: 'jwt', scopes: ['read'], dpopJkt: key.jkt });
    // Cached token, fresh proof: the proof is checked again (another valid one passes, with EdDSA too).
    expect((await dpopCall(`${api.url}/api/read`, token, await proofFor(key, READ, token))).status).toBe(200);
  });

  it('Fetch adapter: 200 with a proof for its own origin; a proof for another origin is refused', async () => {
    const url = `${fetchApi.url}/api/read`;
    const ok = await dpopCall(url, token, await proofFor(key, url, token));
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ dpopJkt: key.jkt, source: 'jwt' });
    expectDpopError(await dpopCall(url, token, await proofFor(key, READ, token)), 401, 'invalid_dpop_proof');
  });

  it('the scheme name is case-insensitive; a query string is not part of htu', async () => {
    const r = await call(`${api.url}/api/read?x=1`, { authorization: `dpop ${token}`, dpop: await proofFor(key, READ, token) });
    expect(r.status).toBe(200);
  });

  it('replay: the same proof a second time is 401 invalid_dpop_proof (the token itself is cached)', async () => {
    const p = await proofFor(key, READ, token);
    expect((await dpopCall(`${api.url}/api/read`, token, p)).status).toBe(200);
    const again = await dpopCall(`${api.url}/api/read`, token, p);
    expectDpopError(again, 401, 'invalid_dpop_proof');
    expect(again.body.error_description).toContain('already used');
  });

  it('a DPoP-bound token with the Bearer scheme: 401 invalid_token with a DPoP challenge', async () => {
    const r = await call(`${api.url}/api/read`, { authorization: `Bearer ${token}` });
    expectDpopError(r, 401, 'invalid_token');
    expect(r.challenge).toContain('DPoP-bound');
    // Also with a valid proof alongside: the scheme decides.
    const withProof = await call(`${api.url}/api/read`, { authorization: `Bearer ${token}`, dpop: await proofFor(key, READ, token) });
    expectDpopError(withProof, 401, 'invalid_token');
  });

  it('a bearer (unbound) token with the DPoP scheme: 401 invalid_token; with Bearer it works', async () => {
    const bearer = await as.token('read');
    expect(decodeJwt(bearer).cnf).toBeUndefined();
    expectDpopError(await dpopCall(`${api.url}/api/read`, bearer, await proofFor(key, READ, bearer)), 401, 'invalid_token');
    expect((await call(`${api.url}/api/read`, { authorization: `Bearer ${bearer}` })).status).toBe(200);
  });

  it('no token: both schemes are offered (RFC 9449 section 7.2)', async () => {
    const r = await call(`${api.url}/api/read`, {});
    expect(r.status).toBe(401);
    expect(r.challenge).toBe(`Bearer realm="api", DPoP realm="api", ${ALGS}`);
  });

  it('missing scope: 403 insufficient_scope with a DPoP challenge naming the scope', async () => {
    const r = await dpopCall(`${api.url}/api/write`, token, await proofFor(key, `${AUD}/api/write`, token));
    expectDpopError(r, 403, 'insufficient_scope');
    expect(r.challenge).toContain('scope="write"');
  });

  it('a bad token with the DPoP scheme: 401 invalid_token with a DPoP challenge', async () => {
    const [h, p, s] = token.split('.') as [string, string, string];
    const forged = `${h}.${p}.${s.slice(0, -4)}AAAA`;
    expectDpopError(await dpopCall(`${api.url}/api/read`, forged, await proofFor(key, READ, forged)), 401, 'invalid_token');
    const verifier = createVerifier({ issuer: as.issuer, audience: AUD, dpop: true });
    const empty = await authenticate(verifier, { authorization: ['DPoP '], query: '', method: 'GET', url: '/api/read', dpop: ['x'] }, []);
    expect(empty.ok).toBe(false);
    if (!empty.ok) expect(empty.response.headers['WWW-Authenticate']).toMatch(/^DPoP realm="api", error="invalid_token", /);
  });

  describe('each proof failure is 401 invalid_dpop_proof with a DPoP challenge', () => {
    const now = () => Math.floor(Date.now() / 1000);
    const cases: [string, () => Promise<string | undefined>][] = [
      ['no DPoP header', async () => undefined],
      ['typ JWT', () => proofFor(key, READ, token, {}, { typ: 'JWT' })],
      ['no typ', () => proofFor(key, READ, token, {}, { typ: undefined })],
      [
        'alg HS256',
        () =>
          new SignJWT({ htm: 'GET', htu: READ, jti: 'h', iat: now(), ath: ath(token) })
            .setProtectedHeader({ typ: 'dpop+jwt', alg: 'HS256', jwk: key.jwk })
            .sign(new Uint8Array(32)),
      ],
      ['alg ES384 (not accepted here)', async () => proofFor(await newKey('ES384'), READ, token)],
      [
        'alg none',
        async () => {
          const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
          return `${enc({ typ: 'dpop+jwt', alg: 'none', jwk: key.jwk })}.${enc({ htm: 'GET', htu: READ, jti: 'n', iat: now(), ath: ath(token) })}.AA`;
        },
      ],
      ['no jwk', () => proofFor(key, READ, token, {}, { jwk: undefined })],
      [
        'a private jwk',
        async () => {
          const k = await newKey();
          return proofFor(k, READ, token, {}, { jwk: { ...(await exportJWK(k.privateKey)) } });
        },
      ],
      ['signed by another key than its jwk', async () => proofFor({ ...(await newKey()), jwk: key.jwk }, READ, token)],
      ['no jti', () => proofFor(key, READ, token, { jti: undefined })],
      ['a 257-character jti', () => proofFor(key, READ, token, { jti: 'j'.repeat(257) })],
      ['htm POST on a GET', () => proofFor(key, READ, token, { htm: 'POST' })],
      ['htm get (case differs)', () => proofFor(key, READ, token, { htm: 'get' })],
      ['htu of another path', () => proofFor(key, `${AUD}/api/write`, token)],
      ['htu of another origin', () => proofFor(key, 'https://evil.example/api/read', token)],
      ['htu not a URL', () => proofFor(key, 'api/read', token)],
      ['no htu', () => proofFor(key, READ, token, { htu: undefined })],
      ['iat 10 minutes old', () => proofFor(key, READ, token, { iat: now() - 600 })],
      ['iat a minute ahead', () => proofFor(key, READ, token, { iat: now() + 60 })],
      ['no iat', () => proofFor(key, READ, token, { iat: undefined })],
      ['iat a string', () => proofFor(key, READ, token, { iat: String(now()) })],
      ['no ath', () => proofFor(key, READ, token, { ath: undefined })],
      ['ath of another token', () => proofFor(key, READ, token, { ath: ath(`${token}x`) })],
      ['a valid proof by another key than the bound one', async () => proofFor(await newKey('EdDSA'), READ, token)],
    ];
    it.each(cases)('%s', async (_name, make) => {
      const p = await make();
      const r = await dpopCall(`${api.url}/api/read`, token, p);
      expectDpopError(r, 401, 'invalid_dpop_proof');
    });
  });

  describe('hostile DPoP headers never get a 5xx', () => {
    it('two DPoP header lines (node adapter) and a comma-joined pair (Fetch adapter): 401 invalid_dpop_proof', async () => {
      const a = await proofFor(key, READ, token);
      const b = await proofFor(key, READ, token);
      const two = await rawGet(`${api.url}/api/read`, [
        ['authorization', `DPoP ${token}`],
        ['dpop', a],
        ['dpop', b],
      ]);
      expect(two.status).toBe(401);
      expect(JSON.parse(two.body).error).toBe('invalid_dpop_proof');
      // Neither proof was used up: each still works alone.
      expect((await dpopCall(`${api.url}/api/read`, token, a)).status).toBe(200);
      const url = `${fetchApi.url}/api/read`;
      const [c, d] = [await proofFor(key, url, token), await proofFor(key, url, token)];
      const twoFetch = await rawGet(url, [
        ['authorization', `DPoP ${token}`],
        ['dpop', c],
        ['dpop', d],
      ]);
      expect(twoFetch.status).toBe(401);
      expect(JSON.parse(twoFetch.body).error).toBe('invalid_dpop_proof');
      const joined = await dpopCall(url, token, `${c}, ${d}`);
      expectDpopError(joined, 401, 'invalid_dpop_proof');
      expect(joined.body.error_description).toBe('Send exactly one DPoP header');
      expect((await dpopCall(url, token, c)).status).toBe(200);
    });

    it('a 9 KiB proof, a non-JWS, JSON, NUL and a bad base64url header: 401 invalid_dpop_proof', async () => {
      const valid = await proofFor(key, READ, token);
      const [, p, s] = valid.split('.') as [string, string, string];
      for (const bad of [
        `${'a'.repeat(9 * 1024)}.${p}.${s}`,
        'not-a-jws',
        '{"typ":"dpop+jwt"}',
        `${valid}.x`,
        `e30.${p}.${s}`,
        `!!!.${p}.${s}`,
      ]) {
        for (const base of [api.url, fetchApi.url]) {
          const r = await dpopCall(`${base}/api/read`, token, bad);
          expectDpopError(r, 401, 'invalid_dpop_proof');
        }
      }
    });

    it('CR, LF and NUL inside a DPoP header (raw socket): refused, never 5xx', async () => {
      const valid = await proofFor(key, READ, token);
      for (const base of [api.url, fetchApi.url]) {
        for (const bad of [`${valid}\rX`, `${valid.slice(0, 20)}\n ${valid.slice(20)}`, `${valid}\0`, `a\r\nDPoP: ${valid}`]) {
          const status = await rawRequest(
            base,
            `GET /api/read HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: DPoP ${token}\r\nDPoP: ${bad}\r\nConnection: close\r\n\r\n`,
          );
          expect(status === 400 || status === 401).toBe(true);
        }
      }
    });

    it('the same values straight into authenticate: 401 invalid_dpop_proof, the challenge stays in its character set', async () => {
      const verifier = createVerifier({ issuer: as.issuer, audience: AUD, dpop: true });
      const valid = await proofFor(key, READ, token);
      for (const proofs of [[`${valid}\r\nX: y`], [`${valid}\0`], ['\n'], ['x'.repeat(100_000)], [valid, valid], []]) {
        const r = await authenticate(
          verifier,
          { authorization: [`DPoP ${token}`], query: '', method: 'GET', url: '/api/read', dpop: proofs },
          [],
        );
        expect(r.ok).toBe(false);
        if (!r.ok) {
          expect(r.response.status).toBe(401);
          expect(JSON.parse(r.response.body).error).toBe('invalid_dpop_proof');
          expect(r.response.headers['WWW-Authenticate']).toMatch(/^DPoP [\x20-\x7e]+$/);
        }
      }
      // A target that is not a path, or a method with CR/LF: the proof cannot match.
      for (const [method, url] of [
        ['GET\r\n', '/api/read'],
        ['GET', '//evil.example/api/read'],
        ['GET', '*'],
        ['GET', `/api/read\r\n`],
      ] as const) {
        const r = await verifier.verifyDpop(token, { method, url, proofs: [await proofFor(key, READ, token)] });
        expect(r).toMatchObject({ ok: false, status: 401, error: 'invalid_dpop_proof' });
      }
      // Absolute-form targets are taken by their path.
      expect((await verifier.verifyDpop(token, { method: 'GET', url: 'http://127.0.0.1:1/api/read?q', proofs: [valid] })).ok).toBe(true);
    });

    it('two Authorization headers with the DPoP scheme, or the token also in the query: 400 invalid_request', async () => {
      const p = await proofFor(key, READ, token);
      const two = await rawGet(`${api.url}/api/read`, [
        ['authorization', `DPoP ${token}`],
        ['authorization', `DPoP ${token}`],
        ['dpop', p],
      ]);
      expect(two.status).toBe(400);
      const q = await call(`${api.url}/api/read?access_token=${token}`, { authorization: `DPoP ${token}`, dpop: p });
      expectDpopError(q, 400, 'invalid_request');
      expectDpopError(await call(`${api.url}/api/read`, { authorization: `DPoP ${token}\u00e9`, dpop: p }), 400, 'invalid_request');
    });
  });

  it('replay across two verifiers sharing one store (core EphemeralStore shape); separate stores do not see it', async () => {
    const shared = createMemoryStores({ clients: [] }).ephemeral;
    const a = createVerifier({ issuer: as.issuer, audience: AUD, dpop: { replayStore: shared } });
    const b = createVerifier({ issuer: as.issuer, audience: AUD, dpop: { replayStore: shared } });
    const alone = createVerifier({ issuer: as.issuer, audience: AUD, dpop: true });
    const req = async () => ({ method: 'GET', url: '/api/read', proofs: [await proofFor(key, READ, token)] });
    const first = await req();
    expect((await a.verifyDpop(token, first)).ok).toBe(true);
    expect(await b.verifyDpop(token, first)).toMatchObject({ ok: false, status: 401, error: 'invalid_dpop_proof', scheme: 'DPoP' });
    expect((await alone.verifyDpop(token, first)).ok).toBe(true);
    const second = await req();
    expect((await b.verifyDpop(token, second)).ok).toBe(true);
    expect((await a.verifyDpop(token, second)).ok).toBe(false);
  });

  it('a replay store that fails: the adapters answer 500 server_error, nothing leaks', async () => {
    const broken: DpopReplayStore = { add: () => Promise.reject(new Error('store down')) };
    const fx = await startFetchApi((origin) =>
      createVerifier({ issuer: as.issuer, audience: AUD, dpop: { origins: [origin], replayStore: broken } }),
    );
    closers.push(fx.close);
    const url = `${fx.url}/api/read`;
    const r = await dpopCall(url, token, await proofFor(key, url, token));
    expect(r.status).toBe(500);
    expect(JSON.stringify(r.body)).not.toContain(token);
  });

  it('server nonces: use_dpop_nonce with DPoP-Nonce, then a proof with it passes', async () => {
    const verifier = createVerifier({ issuer: as.issuer, audience: AUD, dpop: { nonce: { secret: 'n'.repeat(40) } } });
    const req = (p: string) => ({ method: 'GET', url: '/api/read', proofs: [p] });
    const first = await authenticate(
      verifier,
      { authorization: [`DPoP ${token}`], query: '', method: 'GET', url: '/api/read', dpop: [await proofFor(key, READ, token)] },
      [],
    );
    expect(first.ok).toBe(false);
    if (first.ok) return;
    expect(first.response.status).toBe(401);
    expect(JSON.parse(first.response.body).error).toBe('use_dpop_nonce');
    expect(first.response.headers['WWW-Authenticate']).toMatch(/^DPoP realm="api", error="use_dpop_nonce"/);
    const nonce = first.response.headers['DPoP-Nonce'];
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Derived as core derives its nonces, so one secret makes the provider's nonces valid here.
    const slot = Math.floor(Date.now() / 300_000);
    const core = (n: number) =>
      createHmac('sha256', Buffer.from('n'.repeat(40), 'utf8'))
        .update(`dpop-nonce:${n}`)
        .digest('base64url');
    expect([core(slot), core(slot - 1)]).toContain(nonce);
    expect((await verifier.verifyDpop(token, req(await proofFor(key, READ, token, { nonce: core(slot - 1) })))).ok).toBe(true);
    expect((await verifier.verifyDpop(token, req(await proofFor(key, READ, token, { nonce: core(slot - 2) })))).ok).toBe(false);
    expect((await verifier.verifyDpop(token, req(await proofFor(key, READ, token, { nonce })))).ok).toBe(true);
    const wrong = await verifier.verifyDpop(token, req(await proofFor(key, READ, token, { nonce: 'A'.repeat(43) })));
    expect(wrong).toMatchObject({ ok: false, error: 'use_dpop_nonce' });
  });

  it('DPoP off: a bound token is refused as a bearer token; the DPoP scheme is not taken', async () => {
    const off = createVerifier({ issuer: as.issuer, audience: AUD });
    expect(await off.verify(token)).toMatchObject({ ok: false, status: 401, error: 'invalid_token' });
    expect(await off.verifyDpop(token, { method: 'GET', url: '/api/read', proofs: [] })).toMatchObject({
      ok: false,
      error: 'invalid_request',
    });
    const r = await authenticate(off, { authorization: [`DPoP ${token}`], query: '' }, []);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.response.headers['WWW-Authenticate']).toBe('Bearer realm="api"');
  });
});

describe('DPoP-bound opaque tokens through introspection', () => {
  let as: Awaited<ReturnType<typeof startProvider>>;
  let api: Awaited<ReturnType<typeof startApi>>;
  let key: Key;
  let token: string;
  const READ = `${AUD}/api/read`;

  beforeAll(async () => {
    as = await startProvider({ format: 'opaque', dpop: true });
    closers.push(as.close);
    const verifier = createVerifier({
      issuer: as.issuer,
      audience: AUD,
      introspection: { url: `${as.issuer}/oauth/introspect`, clientId: 'api', clientSecret: API_SECRET },
      dpop: {},
    });
    api = await startApi(verifier, as.issuer);
    closers.push(api.close);
    key = await newKey('EdDSA');
    token = await as.token('read', undefined, await proof(key, { htm: 'POST', htu: `${as.issuer}/oauth/token` }));
  });

  it('a valid proof: 200 with dpopJkt from cnf.jkt, token_type DPoP', async () => {
    expect(token.split('.').length).not.toBe(3);
    const r = await dpopCall(`${api.url}/api/read`, token, await proofFor(key, READ, token));
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ source: 'introspection', dpopJkt: key.jkt, claims: { token_type: 'DPoP', cnf: { jkt: key.jkt } } });
  });

  it('Bearer scheme: 401 invalid_token (DPoP challenge); another key: invalid_dpop_proof; replay refused', async () => {
    expectDpopError(await call(`${api.url}/api/read`, { authorization: `Bearer ${token}` }), 401, 'invalid_token');
    expectDpopError(await dpopCall(`${api.url}/api/read`, token, await proofFor(await newKey(), READ, token)), 401, 'invalid_dpop_proof');
    const p = await proofFor(key, READ, token);
    expect((await dpopCall(`${api.url}/api/read`, token, p)).status).toBe(200);
    expectDpopError(await dpopCall(`${api.url}/api/read`, token, p), 401, 'invalid_dpop_proof');
  });

  it('an opaque bearer token with the DPoP scheme: 401 invalid_token', async () => {
    const bearer = await as.token('read');
    expectDpopError(await dpopCall(`${api.url}/api/read`, bearer, await proofFor(key, READ, bearer)), 401, 'invalid_token');
  });
});

describe('options and the in-process replay store', () => {
  it('refuses DPoP settings it cannot honour', () => {
    const base = { issuer: 'https://as.example', audience: AUD };
    expect(() => createVerifier({ issuer: base.issuer, audience: 'urn:api', dpop: true })).toThrow(/dpop.origins/);
    expect(() => createVerifier({ ...base, dpop: { origins: ['ftp://x'] } })).toThrow(TypeError);
    expect(() => createVerifier({ ...base, dpop: { algorithms: ['HS256' as 'ES256'] } })).toThrow(/algorithms/);
    expect(() => createVerifier({ ...base, dpop: { algorithms: [] } })).toThrow(/algorithms/);
    expect(() => createVerifier({ ...base, dpop: { maxAge: 0 } })).toThrow(/maxAge/);
    expect(() => createVerifier({ ...base, dpop: { nonce: { secret: 'short' } } })).toThrow(/secret/);
    expect(() => createVerifier({ ...base, dpop: { replayStore: {} as DpopReplayStore } })).toThrow(/replayStore/);
    expect(
      createVerifier({ issuer: base.issuer, audience: 'urn:api', dpop: { origins: ['https://api.example/ignored'] } }).challenge
        .dpopAlgorithms,
    ).toEqual(['ES256', 'EdDSA', 'PS256', 'RS256']);
  });

  it('keeps a key until it expires, at most max entries (oldest first), and takes it again once expired', async () => {
    const s = new MemoryReplayStore(2);
    const later = new Date(Date.now() + 60_000);
    expect(await s.add('a', '', later)).toBe(true);
    expect(await s.add('a', '', later)).toBe(false);
    expect(await s.add('b', '', later)).toBe(true);
    expect(await s.add('c', '', later)).toBe(true);
    expect(await s.add('b', '', later)).toBe(false);
    expect(await s.add('a', '', later)).toBe(true);
    expect(await s.add('gone', '', new Date(Date.now() - 1))).toBe(true);
    expect(await s.add('gone', '', later)).toBe(true);
  });
});
