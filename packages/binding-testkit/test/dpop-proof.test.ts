import assert from 'node:assert/strict';
import { createHash, createPublicKey, type JsonWebKey, verify } from 'node:crypto';
import { type DpopKey, type DpopProofAlgorithm, dpopAth, dpopKey, dpopProof } from '@portcullis/binding-testkit';
import { EmbeddedJWK, jwtVerify } from 'jose';
import { describe, it } from 'vitest';

/**
 * The DPoP proof helper, checked without trusting it: thumbprints recomputed by hand (RFC 7638),
 * signatures verified with node:crypto from the header's own `jwk`, and the same proofs through
 * jose's embedded-JWK verification as the servers run it.
 */

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** RFC 7638: SHA-256 of the required members, in lexicographic order, no whitespace. */
function thumbprint(jwk: JsonWebKey): string {
  const required = jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return createHash('sha256').update(JSON.stringify(required)).digest('base64url');
}

function decodePart(part: string | undefined): Record<string, unknown> {
  return JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** Header and claims of a compact JWS, and whether its signature verifies with `jwk`. */
function open(jws: string, jwk: JsonWebKey): { header: Record<string, unknown>; claims: Record<string, unknown>; valid: boolean } {
  const [h, p, s] = jws.split('.');
  assert.equal(jws.split('.').length, 3);
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  const input = Buffer.from(`${h}.${p}`);
  const sig = Buffer.from(s ?? '', 'base64url');
  const valid = jwk.kty === 'EC' ? verify('sha256', input, { key, dsaEncoding: 'ieee-p1363' }, sig) : verify(null, input, key, sig);
  return { header: decodePart(h), claims: decodePart(p), valid };
}

const now = () => Math.floor(Date.now() / 1000);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('dpopAth and the reference thumbprint', () => {
  it('match the RFC 9449 examples', () => {
    // RFC 9449 section 7.1 (ath of the example access token) and section 6.1 (jkt of the example key).
    assert.equal(dpopAth('Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU'), 'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo');
    const example = {
      kty: 'EC',
      x: 'l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs',
      y: '9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA',
      crv: 'P-256',
    };
    assert.equal(thumbprint(example), '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I');
  });

  it('tells tokens one character apart', () => {
    assert.notEqual(dpopAth('token-a'), dpopAth('token-b'));
    assert.match(dpopAth(''), /^[A-Za-z0-9_-]{43}$/);
  });
});

const SHAPES: Record<DpopProofAlgorithm, { kty: string; crv: string; members: string[] }> = {
  ES256: { kty: 'EC', crv: 'P-256', members: ['crv', 'kty', 'x', 'y'] },
  EdDSA: { kty: 'OKP', crv: 'Ed25519', members: ['crv', 'kty', 'x'] },
};

for (const alg of ['ES256', 'EdDSA'] as const) {
  describe(`dpopKey and dpopProof (${alg})`, () => {
    const keyFor = (): Promise<DpopKey> => (alg === 'ES256' ? dpopKey() : dpopKey(alg));

    it('a key: the public JWK only, and its RFC 7638 thumbprint', async () => {
      const key = await keyFor();
      assert.equal(key.alg, alg);
      assert.equal(key.jwk.kty, SHAPES[alg].kty);
      assert.equal(key.jwk.crv, SHAPES[alg].crv);
      assert.deepEqual(Object.keys(key.jwk).sort(), SHAPES[alg].members);
      assert.equal(key.jkt, thumbprint(key.jwk as JsonWebKey));
      const other = await keyFor();
      assert.notEqual(other.jkt, key.jkt);
    });

    it('a proof: typ, alg and the public jwk in the header; htm, htu, iat, a fresh jti; signed by the key', async () => {
      const key = await keyFor();
      const before = now();
      const jws = await dpopProof(key, 'POST', 'https://as.example/oauth/token');
      const after = now();
      const { header, claims, valid } = open(jws, key.jwk as JsonWebKey);
      assert.equal(valid, true);
      assert.deepEqual(header, { typ: 'dpop+jwt', alg, jwk: key.jwk });
      assert.deepEqual(Object.keys(claims).sort(), ['htm', 'htu', 'iat', 'jti']);
      assert.equal(claims.htm, 'POST');
      assert.equal(claims.htu, 'https://as.example/oauth/token');
      assert.ok(typeof claims.iat === 'number' && Number.isInteger(claims.iat) && claims.iat >= before && claims.iat <= after);
      assert.match(String(claims.jti), UUID);
      const again = open(await dpopProof(key, 'POST', 'https://as.example/oauth/token'), key.jwk as JsonWebKey);
      assert.notEqual(again.claims.jti, claims.jti);
      // The same proof through jose's verification with the embedded key, as the servers check it.
      const verified = await jwtVerify(jws, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: [alg] });
      assert.equal(verified.payload.htu, 'https://as.example/oauth/token');
    });

    it('ath and nonce when given, and the jti and iat overrides', async () => {
      const key = await keyFor();
      const jws = await dpopProof(key, 'GET', 'https://rs.example/api', { accessToken: 'at-1', nonce: 'n-1', jti: 'fixed', iat: 1_000 });
      const { claims, valid } = open(jws, key.jwk as JsonWebKey);
      assert.equal(valid, true);
      assert.deepEqual(claims, { htm: 'GET', htu: 'https://rs.example/api', ath: dpopAth('at-1'), nonce: 'n-1', jti: 'fixed', iat: 1_000 });
    });

    it('hostile: no private member anywhere in the proof; another key, or a changed claim, does not verify', async () => {
      const key = await keyFor();
      const jws = await dpopProof(key, 'GET', 'https://rs.example/api', { accessToken: 'at-1' });
      const { header } = open(jws, key.jwk as JsonWebKey);
      const jwk = header.jwk as Record<string, unknown>;
      for (const m of PRIVATE_MEMBERS) assert.equal(m in jwk, false, `jwk must not carry ${m}`);
      const other = await keyFor();
      assert.equal(open(jws, other.jwk as JsonWebKey).valid, false);
      const [h, , s] = jws.split('.');
      const forged = Buffer.from(JSON.stringify({ htm: 'POST', htu: 'https://rs.example/api', iat: now(), jti: 'x' })).toString(
        'base64url',
      );
      assert.equal(open(`${h}.${forged}.${s}`, key.jwk as JsonWebKey).valid, false);
      await assert.rejects(jwtVerify(`${h}.${forged}.${s}`, EmbeddedJWK, { typ: 'dpop+jwt' }));
    });
  });
}
