/**
 * RFC 8707 resource indicators on the Mongo wire server: a code flow with `resource` on a provider
 * whose stores are this binding (introspection answers `aud`, a refresh narrows and never
 * widens), what the documents hold, and documents written before the field existed.
 */

import { createHash, randomBytes } from 'node:crypto';
import { digestToken, hashSecret, OAuth2Provider, type OAuthRequest, type OAuthResponse } from '@portcullis/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindMongoose, createGrantStore, createTokenStore, lookupKey } from '../src/index.js';
import { openTestDatabase, type TestDatabase } from './connect.js';

const SECRET = 'resource-indicators-client-secret';
const CB = 'https://app.example/cb';
const API = 'https://api.example/';
const CAL = 'https://cal.example/';
const OTHER = 'https://other-api.example/';
const silent = { warn: () => {}, error: () => {} };

/** A form POST whose body may repeat names. */
function post(url: string, pairs: readonly (readonly [string, string])[], contentType = 'application/x-www-form-urlencoded'): OAuthRequest {
  const q = new URLSearchParams();
  for (const [k, v] of pairs) q.append(k, v);
  const authorization = `Basic ${Buffer.from(`c1:${SECRET}`).toString('base64')}`;
  return { method: 'POST', url, headers: { 'content-type': contentType, authorization }, body: q.toString() };
}

function json(r: OAuthResponse): Record<string, unknown> {
  return JSON.parse(String(r.body)) as Record<string, unknown>;
}

let db: TestDatabase;
let provider: OAuth2Provider;

beforeAll(async () => {
  db = await openTestDatabase('resources');
  await db.models.client.create({
    clientId: 'c1',
    secretHash: hashSecret(SECRET),
    redirectUris: [CB],
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: ['read', 'write'],
  });
  provider = new OAuth2Provider({
    issuer: 'http://127.0.0.1',
    grants: ['authorization_code', 'refresh_token'],
    resources: [{ uri: API }, { uri: CAL }, { uri: OTHER }],
    logger: silent,
  });
  bindMongoose(provider, { connection: db.connection, client: true, grant: true, token: true, currentUser: () => ({ id: 'u1' }) });
});
afterAll(async () => {
  await db?.close();
});

const refresh = (token: string, resources: readonly string[]) =>
  provider.token(
    post('/oauth/token', [['grant_type', 'refresh_token'], ['refresh_token', token], ...resources.map((r) => ['resource', r] as const)]),
  );
const introspect = async (token: string) => json(await provider.introspect(post('/oauth/introspect', [['token', token]])));
const tokenDoc = (kind: 'access' | 'refresh', token: string) =>
  db.models.token.collection.findOne({ key: lookupKey(digestToken(token)), kind });

describe('resource indicators end to end on bindMongoose', () => {
  it('a code bound to two resources: aud on introspection, refresh narrows and never widens', async () => {
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: 'c1',
      redirect_uri: CB,
      scope: 'read write',
      state: 'st',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    query.append('resource', API);
    query.append('resource', CAL);
    const a = await provider.authorize({ method: 'GET', url: `/oauth/authorize?${query}`, headers: {} });
    expect(a.type).toBe('consent');
    if (a.type !== 'consent') return;
    const redirect = await provider.completeAuthorization(a.request, { approved: true });
    const code = new URL(String(redirect.headers.Location)).searchParams.get('code') ?? '';
    const grantDoc = await db.models.grant.collection.findOne({ key: lookupKey(digestToken(code)), clientId: 'c1' });
    expect(grantDoc?.resources).toEqual([API, CAL]);

    const res = await provider.token(
      post('/oauth/token', [
        ['grant_type', 'authorization_code'],
        ['code', code],
        ['redirect_uri', CB],
        ['code_verifier', verifier],
      ]),
    );
    expect(res.status).toBe(200);
    const first = json(res);
    const at = String(first.access_token);
    const rt = String(first.refresh_token);
    expect(await introspect(at)).toMatchObject({ active: true, aud: [API, CAL] });
    expect((await tokenDoc('access', at))?.resources).toEqual([API, CAL]);
    expect((await tokenDoc('refresh', rt))?.resources).toEqual([API, CAL]);

    // Wider than the grant, or hostile: invalid_target, and the refresh token is not spent.
    for (const asked of [[OTHER], [API, OTHER], [`${API}\r\nx`], [`${API}\u0000`], [`${API}${'a'.repeat(2048)}`], Array(11).fill(API)]) {
      const refused = await refresh(rt, asked);
      expect(refused.status, JSON.stringify(asked).slice(0, 60)).toBe(400);
      expect(json(refused).error).toBe('invalid_target');
    }
    const wrongType = await provider.token(
      post(
        '/oauth/token',
        [
          ['grant_type', 'refresh_token'],
          ['refresh_token', rt],
          ['resource', API],
        ],
        'text/plain',
      ),
    );
    expect(wrongType.status).toBe(400);

    const narrowed = await refresh(rt, [API]);
    expect(narrowed.status).toBe(200);
    const second = json(narrowed);
    expect(await introspect(String(second.access_token))).toMatchObject({ active: true, aud: API });
    const bearer: OAuthRequest = { method: 'GET', url: '/api', headers: { authorization: `Bearer ${String(second.access_token)}` } };
    expect((await provider.verifyAccessToken(bearer, ['read'], { audience: API })).ok).toBe(true);
    expect((await provider.verifyAccessToken(bearer, ['read'], { audience: CAL })).ok).toBe(false);
    const other = await refresh(String(second.refresh_token), [CAL]);
    expect(other.status, 'the rotated refresh token is still bound to the whole grant').toBe(200);
    expect(await introspect(String(json(other).access_token))).toMatchObject({ active: true, aud: CAL });
    expect(json(await refresh(String(json(other).refresh_token), [OTHER])).error).toBe('invalid_target');
  });

  it('documents written before the field existed, or past the schema, name no resource', async () => {
    const expiresAt = new Date(Date.now() + 600_000);
    const common = { clientId: 'c1', userId: 'u1', scopes: ['read'], expiresAt, grantId: 'fam-old', consumedAt: null };
    await db.models.grant.collection.insertMany([
      { ...common, key: lookupKey('old-code'), redirectUri: CB, codeChallenge: null, codeChallengeMethod: null },
      {
        ...common,
        key: lookupKey('odd-code'),
        redirectUri: CB,
        codeChallenge: null,
        codeChallengeMethod: null,
        resources: [1, { $gt: '' }],
      },
    ]);
    await db.models.token.collection.insertMany([
      { ...common, key: lookupKey('old-at'), kind: 'access', revokedAt: null },
      { ...common, key: lookupKey('old-rt'), kind: 'refresh', revokedAt: null, resources: [] },
    ]);
    const grants = createGrantStore(db.models.grant);
    const tokens = createTokenStore(db.models.token);
    for (const code of ['old-code', 'odd-code']) {
      const taken = await grants.consumeGrant('c1', code);
      expect(taken?.outcome).toBe('consumed');
      expect(taken?.outcome === 'consumed' && taken.record).not.toHaveProperty('resources');
    }
    expect(await tokens.getAccessToken('old-at')).not.toHaveProperty('audience');
    const rotated = await tokens.consumeRefreshToken('old-rt');
    expect(rotated?.outcome === 'consumed' && rotated.record).not.toHaveProperty('resources');
    // What is written for records without them: no field at all (not [] or null).
    const grant = {
      code: 'new-code',
      clientId: 'c1',
      userId: 'u1',
      redirectUri: CB,
      scopes: [],
      expiresAt,
      grantId: 'f',
      codeChallenge: null,
      codeChallengeMethod: null,
    } as const;
    await grants.saveGrant(grant);
    expect(await db.models.grant.collection.findOne({ key: lookupKey('new-code') })).not.toHaveProperty('resources');
    await tokens.saveTokens({ token: 'new-at', clientId: 'c1', userId: null, scopes: [], expiresAt, grantId: 'f' }, null);
    expect(await db.models.token.collection.findOne({ key: lookupKey('new-at') })).not.toHaveProperty('resources');
  });
});
