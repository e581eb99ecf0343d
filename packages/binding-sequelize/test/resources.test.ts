/**
 * RFC 8707 resource indicators on every database: a code flow with `resource` on a provider
 * whose stores are this binding (introspection answers `aud`, a refresh narrows and never
 * widens), the model paths beside the direct statements, and models of your own without the
 * `resources` column.
 */
import { grantChecks, makeGrant, makePair, type StoreCapabilities, tokenChecks } from '@portcullis/binding-testkit';
import { digestToken, hashSecret, OAuth2Provider, type OAuthRequest, type OAuthResponse } from '@portcullis/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindSequelize, createGrantStore, createTokenStore, keyHash } from '../src/index.js';
import { DIALECTS, openDatabase, type TestDatabase } from './databases.js';

const SECRET = 'resource-indicators-client-secret';
const CB = 'https://app.example/cb';
const API = 'https://api.example/';
const CAL = 'https://cal.example/';
const OTHER = 'https://other-api.example/';
const silent = { warn: () => {}, error: () => {} };
const ms: StoreCapabilities = { detectsReplay: true, ttlGranularity: 'ms' };

/** A form POST whose body may repeat names. */
function post(url: string, pairs: readonly (readonly [string, string])[], contentType = 'application/x-www-form-urlencoded'): OAuthRequest {
  const q = new URLSearchParams();
  for (const [k, v] of pairs) q.append(k, v);
  const authorization = `Basic ${Buffer.from(`conf:${SECRET}`).toString('base64')}`;
  return { method: 'POST', url, headers: { 'content-type': contentType, authorization }, body: q.toString() };
}

function json(r: OAuthResponse): Record<string, unknown> {
  return JSON.parse(String(r.body)) as Record<string, unknown>;
}

const refresh = (provider: OAuth2Provider, token: string, resources: readonly string[]) =>
  provider.token(
    post('/oauth/token', [['grant_type', 'refresh_token'], ['refresh_token', token], ...resources.map((r) => ['resource', r] as const)]),
  );

const introspect = async (provider: OAuth2Provider, token: string) =>
  json(await provider.introspect(post('/oauth/introspect', [['token', token]])));

for (const dialect of DIALECTS) {
  describe(`${dialect}: resource indicators end to end`, () => {
    let db: TestDatabase;
    let provider: OAuth2Provider;
    beforeAll(async () => {
      db = await openDatabase(dialect);
      await db.models.client.create({
        id: 'conf',
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
      bindSequelize(provider, { sequelize: db.sequelize, ...db.models, currentUser: () => ({ id: 'u-alice' }) });
    });
    afterAll(async () => {
      await db?.close();
    });

    it('a code bound to two resources: aud on introspection, refresh narrows and never widens', async () => {
      const { createHash, randomBytes } = await import('node:crypto');
      const verifier = randomBytes(32).toString('base64url');
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      const query = new URLSearchParams({
        response_type: 'code',
        client_id: 'conf',
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
      expect(code).not.toBe('');
      // What the grant table really holds.
      const [grantRow] = await db.rawRows('grant', { codeHash: keyHash(digestToken(code)), clientId: 'conf' });
      expect(JSON.parse(String(grantRow?.resources))).toEqual([API, CAL]);

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
      expect(await introspect(provider, at)).toMatchObject({ active: true, aud: [API, CAL] });
      const [accessRow] = await db.rawRows('token', { tokenHash: keyHash(digestToken(at)), kind: 'access' });
      const [refreshRow] = await db.rawRows('token', { tokenHash: keyHash(digestToken(rt)), kind: 'refresh' });
      expect(JSON.parse(String(accessRow?.resources))).toEqual([API, CAL]);
      expect(JSON.parse(String(refreshRow?.resources))).toEqual([API, CAL]);

      // Wider than the grant, or hostile: invalid_target, and the refresh token is not spent.
      for (const asked of [[OTHER], [API, OTHER], [`${API}\r\nx`], [`${API}\u0000`], [`${API}${'a'.repeat(2048)}`], Array(11).fill(API)]) {
        const refused = await refresh(provider, rt, asked);
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

      // Narrowed to one: the access token's audience is that one; the refresh token keeps both.
      const narrowed = await refresh(provider, rt, [API]);
      expect(narrowed.status).toBe(200);
      const second = json(narrowed);
      expect(await introspect(provider, String(second.access_token))).toMatchObject({ active: true, aud: API });
      const bearer = { method: 'GET', url: '/api', headers: { authorization: `Bearer ${String(second.access_token)}` } };
      expect((await provider.verifyAccessToken(bearer, ['read'], { audience: API })).ok).toBe(true);
      expect((await provider.verifyAccessToken(bearer, ['read'], { audience: CAL })).ok).toBe(false);
      const other = await refresh(provider, String(second.refresh_token), [CAL]);
      expect(other.status, 'the rotated refresh token is still bound to the whole grant').toBe(200);
      expect(await introspect(provider, String(json(other).access_token))).toMatchObject({ active: true, aud: CAL });
      const widened = await refresh(provider, String(json(other).refresh_token), [OTHER]);
      expect(json(widened).error).toBe('invalid_target');
    });
  });
}

// The model paths (a hook on the model turns the direct statements off).
for (const dialect of ['sqlite-memory', 'postgres'] as const) {
  describe(`${dialect}: resources through the model paths`, () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await openDatabase(dialect);
      db.models.grant.addHook('beforeCreate', () => {});
      db.models.token.addHook('beforeBulkCreate', () => {});
    });
    afterAll(async () => {
      await db?.close();
    });

    it('grants and tokens keep resources and audience', async () => {
      await grantChecks.resources.run({ store: createGrantStore(db.models.grant), capabilities: ms });
      const tokens = createTokenStore(db.models.token);
      await tokenChecks.audienceAndResources.run({ store: tokens, capabilities: ms });
      await tokenChecks.resourcesThroughRotation.run({ store: tokens, capabilities: ms });
    });
  });
}

describe('sqlite-memory: models of your own without the resources column', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await openDatabase('sqlite-memory');
  });
  afterAll(async () => {
    await db?.close();
  });

  it('keep working for records without resources, and refuse (naming the attribute, no value) records with them', async () => {
    const { resources: _g, ...grantAttributes } = db.models.grant.getAttributes();
    const { resources: _t, ...tokenAttributes } = db.models.token.getAttributes();
    const OldGrant = db.sequelize.define('old_grant', grantAttributes, { tableName: db.tables.grant, timestamps: false });
    const OldToken = db.sequelize.define('old_token', tokenAttributes, { tableName: db.tables.token, timestamps: false });
    const grants = createGrantStore(OldGrant);
    const tokens = createTokenStore(OldToken);
    const plain = makeGrant();
    await grants.saveGrant(plain);
    const taken = await grants.consumeGrant(plain.clientId, plain.code);
    expect(taken?.outcome === 'consumed' && taken.record).not.toHaveProperty('resources');
    const pair = makePair();
    await tokens.saveTokens(pair.access, pair.refresh);
    expect(await tokens.getAccessToken(pair.access.token)).not.toHaveProperty('audience');

    const secret = 'https://secret.example/never-in-a-message';
    const bound = makeGrant({ resources: [secret] });
    const refused = [
      await grants.saveGrant(bound).catch((err: unknown) => err),
      await tokens.saveTokens({ ...pair.access, token: 'x', audience: [secret] }, null).catch((err: unknown) => err),
      await tokens.saveTokens(pair.access, { ...pair.refresh, token: 'y', resources: [secret] }).catch((err: unknown) => err),
    ];
    for (const err of refused) {
      expect(err).toBeInstanceOf(TypeError);
      expect(String(err)).toMatch(/lacks the attribute resources/);
      expect(String(err)).not.toContain('secret.example');
    }
    expect(await tokens.getAccessToken('x'), 'nothing half-saved').toBeNull();
    expect(await grants.consumeGrant(bound.clientId, bound.code), 'nothing half-saved').toBeNull();
  });
});
