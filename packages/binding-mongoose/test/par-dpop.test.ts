/**
 * Core's ephemeral store on this binding: an `add` racing over an expired document that still
 * holds the key, and a provider with pushed authorization requests (RFC 9126) and DPoP (RFC 9449) on this
 * binding's stores only: the pushed request is kept in and taken from the ephemeral collection, the
 * code and tokens carry the DPoP key thumbprint through the grant and token collections, and a
 * replayed proof is refused through the ephemeral collection.
 */
import { basicAuth, formRequest, jsonBody, locationOf, pkcePair } from '@portcullis/binding-testkit';
import { hashSecret, OAuth2Provider, type OAuthRequest, type OAuthResponse } from '@portcullis/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindMongoose, createEphemeralStore } from '../src/index.js';
import { openTestDatabase, type TestDatabase } from './connect.js';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from './jose.js';

const ISSUER = 'http://127.0.0.1';
const CB = 'https://app.example/cb';
const SECRET = 'resource-server-secret-of-more-than-32-characters';
const silent = { warn: () => {}, error: () => {} };

const json = (r: OAuthResponse) => jsonBody(r) as Record<string, unknown>;
const withDpop = (r: OAuthRequest, proof: string): OAuthRequest => ({ ...r, headers: { ...r.headers, dpop: proof } });

/** What jose signs with (a Web Crypto key). */
type SigningKey = Parameters<InstanceType<typeof SignJWT>['sign']>[0];
interface DpopKey {
  privateKey: SigningKey;
  jwk: Record<string, unknown>;
  jkt: string;
}
async function newKey(): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk: jwk as Record<string, unknown>, jkt: await calculateJwkThumbprint(jwk, 'sha256') };
}
let jtis = 0;
function proof(key: DpopKey, htu = `${ISSUER}/oauth/token`): Promise<string> {
  return new SignJWT({ htm: 'POST', htu, iat: Math.floor(Date.now() / 1000), jti: `jti-${++jtis}-${Math.random()}` })
    .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk })
    .sign(key.privateKey);
}

describe('mongoose: ephemeral collection and a PAR + DPoP code flow', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await openTestDatabase('par_dpop');
    await db.models.client.insertMany([
      { clientId: 'spa', secretHash: null, redirectUris: [CB], grantTypes: ['authorization_code', 'refresh_token'], scopes: ['read'] },
      {
        clientId: 'rs',
        secretHash: hashSecret(SECRET),
        redirectUris: [],
        grantTypes: ['client_credentials'],
        scopes: [],
        resourceServer: true,
      },
    ]);
  });
  afterAll(async () => {
    await db?.close();
  });

  it('20 concurrent adds over an expired document that still holds the key: exactly one wins, its value is held', async () => {
    const store = createEphemeralStore(db.models.ephemeral);
    const key = `par:expired-holder-${Math.random()}`;
    // Written past the store, as a document the TTL monitor has not removed yet.
    await db.models.ephemeral.collection.insertOne({ _id: key, value: 'old', expiresAt: new Date(Date.now() - 1000) } as never);
    expect(await store.get(key)).toBeNull();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => store.add(key, `v${i}`, new Date(Date.now() + 60_000))));
    expect(answers.filter((a) => a)).toHaveLength(1);
    const winner = answers.indexOf(true);
    expect(await store.get(key)).toBe(`v${winner}`);
    const docs = await db.models.ephemeral.collection.find({ _id: key } as never).toArray();
    expect(
      docs.map((d) => d.value),
      'one document, the winner’s',
    ).toEqual([`v${winner}`]);
    // 20 concurrent takes: one value.
    const taken = await Promise.all(Array.from({ length: 20 }, () => store.take(key)));
    expect(taken.filter((v) => v !== null)).toEqual([`v${winner}`]);
    expect(await db.models.ephemeral.collection.countDocuments({ _id: key } as never)).toBe(0);
  });

  it('pushed request, DPoP-bound code and tokens (cnf.jkt), refresh needs the key, a replayed proof is refused', async () => {
    const provider = new OAuth2Provider({
      issuer: ISSUER,
      grants: ['authorization_code', 'refresh_token'],
      par: { enabled: true },
      dpop: { enabled: true },
      logger: silent,
    });
    const stores = bindMongoose(provider, {
      connection: db.connection,
      client: true,
      grant: true,
      token: true,
      ephemeral: true,
      currentUser: () => ({ id: 'u-alice' }),
    });
    expect(stores.ephemeral, 'bindMongoose registers the ephemeral store').toBeDefined();
    const key = await newKey();
    /** A pushed request bound to `key`, shown and approved: its code and PKCE verifier. */
    const authorizeCode = async () => {
      const pair = pkcePair();
      const pushed = await provider.pushedAuthorizationRequest(
        formRequest('/oauth/par', {
          client_id: 'spa',
          response_type: 'code',
          redirect_uri: CB,
          scope: 'read',
          state: 's1',
          code_challenge: pair.challenge,
          code_challenge_method: 'S256',
          dpop_jkt: key.jkt,
        }),
      );
      expect(pushed.status, pushed.body).toBe(201);
      const requestUri = json(pushed).request_uri as string;
      const held = await db.models.ephemeral.collection.find({}).toArray();
      expect(
        held.some((d) => String(d.value).includes(pair.challenge)),
        'the pushed request is a document of the ephemeral collection',
      ).toBe(true);
      const url = `/oauth/authorize?${new URLSearchParams({ client_id: 'spa', request_uri: requestUri })}`;
      const shown = await provider.authorize({ method: 'GET', url, headers: {} });
      if (shown.type !== 'consent') throw new Error(`expected consent, got ${shown.response.status} ${shown.response.body}`);
      const done = await provider.completeAuthorization(shown.request, { approved: true, userId: 'u-alice' });
      expect(done.status).toBe(302);
      // The pushed request is used up (taken from the ephemeral collection).
      const again = await provider.authorize({ method: 'GET', url, headers: {} });
      expect(again.type).not.toBe('consent');
      return { code: new URL(locationOf(done)).searchParams.get('code') ?? '', verifier: pair.verifier };
    };
    const redeem = (grant: { code: string; verifier: string }, proofValue: string) =>
      provider.token(
        withDpop(
          formRequest('/oauth/token', {
            grant_type: 'authorization_code',
            code: grant.code,
            redirect_uri: CB,
            client_id: 'spa',
            code_verifier: grant.verifier,
          }),
          proofValue,
        ),
      );

    // The code is bound through the grant collection: a proof by another key does not redeem it.
    const first = await authorizeCode();
    const grantDocs = await db.models.grant.collection.find({}).toArray();
    expect(
      grantDocs.map((d) => d.dpopJkt),
      'the code is bound to the key in the grant collection',
    ).toContain(key.jkt);
    const wrongKey = await redeem(first, await proof(await newKey()));
    expect(json(wrongKey).error, 'a proof by another key does not redeem a bound code').toBe('invalid_dpop_proof');

    const p1 = await proof(key);
    const t = await redeem(await authorizeCode(), p1);
    expect(t.status, t.body).toBe(200);
    const tokens = json(t);
    expect(tokens.token_type).toBe('DPoP');
    const accessToken = tokens.access_token as string;
    const refreshToken = tokens.refresh_token as string;

    // Core stores digests of tokens, so the documents are found by kind: this database holds this flow's only.
    const tokenDocs = await db.models.token.collection.find({}).toArray();
    expect(tokenDocs.map((d) => [d.kind, d.dpopJkt]).sort(), 'both token documents hold the thumbprint').toEqual(
      [
        ['access', key.jkt],
        ['refresh', key.jkt],
      ].sort(),
    );
    const intro = await provider.introspect(
      formRequest('/oauth/introspect', { token: accessToken }, { authorization: basicAuth('rs', SECRET) }),
    );
    expect(json(intro)).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: key.jkt } });

    // The proof was used: a replay is refused (the ephemeral collection remembers its jti).
    const replayed = await provider.token(
      withDpop(formRequest('/oauth/token', { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'spa' }), p1),
    );
    expect(json(replayed).error).toBe('invalid_dpop_proof');
    // The public client's refresh token is bound too: no proof, no token.
    const bare = await provider.token(
      formRequest('/oauth/token', { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'spa' }),
    );
    expect(json(bare).error).toBe('invalid_dpop_proof');
    const refreshed = await provider.token(
      withDpop(
        formRequest('/oauth/token', { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'spa' }),
        await proof(key),
      ),
    );
    expect(refreshed.status, refreshed.body).toBe(200);
    expect(json(refreshed).token_type).toBe('DPoP');
    const intro2 = await provider.introspect(
      formRequest('/oauth/introspect', { token: json(refreshed).access_token as string }, { authorization: basicAuth('rs', SECRET) }),
    );
    expect(json(intro2)).toMatchObject({ active: true, cnf: { jkt: key.jkt } });
  });
});
