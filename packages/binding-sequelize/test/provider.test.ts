/**
 * End to end: a provider whose every store is this binding completes each grant against each
 * database, and answers 503 when the database goes away.
 */
import {
  type AuthorizationCodeFlowOptions,
  authorizationCodeFlow,
  basicAuth,
  bearerRequest,
  formRequest,
  jsonBody,
  redeemCode,
} from '@portcullis/binding-testkit';
import { hashPassword, hashSecret, OAuth2Provider, type OAuthRequest, type OAuthResponse } from '@portcullis/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindSequelize, type PortcullisModels } from '../src/index.js';
import { DIALECTS, openDatabase, proxyTo, serverUrl, type TestDatabase } from './databases.js';

const SECRET = 'se:cr+et/%&= x-with-every-odd-character';
const CB = 'https://app.example/cb';
const silent = { warn: () => {}, error: () => {} };

function form(params: Record<string, string>, clientId = 'conf', url = '/oauth/token'): OAuthRequest {
  return formRequest(url, params, { authorization: basicAuth(clientId, SECRET) });
}

function json(r: OAuthResponse): Record<string, string> {
  return jsonBody(r) as Record<string, string>;
}

async function seed(models: PortcullisModels): Promise<void> {
  await models.client.bulkCreate([
    {
      id: 'conf',
      secretHash: hashSecret(SECRET),
      redirectUris: [CB],
      grantTypes: ['authorization_code', 'refresh_token', 'client_credentials', 'password'],
      scopes: ['read', 'write'],
      defaultScopes: ['read'],
    },
    {
      id: 'öffentlich-🔑',
      secretHash: hashSecret(SECRET),
      redirectUris: [CB],
      grantTypes: ['client_credentials'],
      scopes: ['read'],
    },
    // May introspect every client's tokens (RFC 7662 section 4).
    { id: 'rs', secretHash: hashSecret(SECRET), redirectUris: [], grantTypes: ['client_credentials'], scopes: [], resourceServer: true },
    // An ordinary client, column NULL: only its own tokens.
    { id: 'plain', secretHash: hashSecret(SECRET), redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read'] },
  ]);
  await models.user.create({ id: 'u-alice', username: 'alice', passwordHash: await hashPassword('correct horse') });
}

function makeProvider(db: TestDatabase): OAuth2Provider {
  const provider = new OAuth2Provider({
    issuer: 'http://127.0.0.1',
    grants: ['authorization_code', 'refresh_token', 'client_credentials', 'password'],
    logger: silent,
  });
  bindSequelize(provider, { sequelize: db.sequelize, ...db.models, currentUser: () => ({ id: 'u-alice' }) });
  return provider;
}

/** authorization_code with PKCE S256, the user coming from the binding's `currentUser`. */
const client: AuthorizationCodeFlowOptions = {
  clientId: 'conf',
  clientSecret: SECRET,
  redirectUri: CB,
  scope: 'read write',
  state: 'st-1',
  authorizeUrl: '/oauth/authorize',
  tokenUrl: '/oauth/token',
};
const codeFlow = (provider: OAuth2Provider) => authorizationCodeFlow(provider, client);
const exchange = (provider: OAuth2Provider, code: string, verifier: string) => redeemCode(provider, client, code, verifier);

for (const dialect of DIALECTS) {
  describe(`${dialect}: a provider wired with bindSequelize`, () => {
    let db: TestDatabase;
    let provider: OAuth2Provider;
    beforeAll(async () => {
      db = await openDatabase(dialect);
      await seed(db.models);
      provider = makeProvider(db);
    });
    afterAll(async () => {
      await db?.close();
    });

    it('authorization_code with PKCE: tokens once, a replayed code revokes what it minted', async () => {
      const { code, verifier } = await codeFlow(provider);
      const res = await exchange(provider, code, verifier);
      expect(res.status).toBe(200);
      const body = json(res);
      expect(body).toMatchObject({ token_type: 'Bearer', scope: 'read write' });
      const check = await provider.verifyAccessToken(bearerRequest(body.access_token ?? ''), ['read', 'write']);
      expect(check.ok && check.token.userId).toBe('u-alice');
      // Only digests are at rest.
      expect(JSON.stringify(await db.models.token.findAll({ raw: true }))).not.toContain(body.access_token);

      const replay = await exchange(provider, code, verifier);
      expect(replay.status).toBe(400);
      expect(json(replay).error).toBe('invalid_grant');
      expect((await provider.verifyAccessToken(bearerRequest(body.access_token ?? ''))).ok, 'family revoked on code replay').toBe(false);
    });

    it('a wrong PKCE verifier is refused and still burns the code', async () => {
      const { code, verifier } = await codeFlow(provider);
      const wrong = await exchange(provider, code, `${verifier}x`);
      expect(json(wrong).error).toBe('invalid_grant');
      expect(json(await exchange(provider, code, verifier)).error).toBe('invalid_grant');
    });

    it('refresh_token: rotation, and replay of a rotated token revokes the family', async () => {
      const { code, verifier } = await codeFlow(provider);
      const first = json(await exchange(provider, code, verifier));
      const rotated = await provider.token(form({ grant_type: 'refresh_token', refresh_token: first.refresh_token ?? '' }));
      expect(rotated.status).toBe(200);
      const second = json(rotated);
      expect(second.refresh_token).toBeTruthy();
      expect(second.refresh_token).not.toBe(first.refresh_token);
      expect((await provider.verifyAccessToken(bearerRequest(second.access_token ?? ''))).ok).toBe(true);

      const replay = await provider.token(form({ grant_type: 'refresh_token', refresh_token: first.refresh_token ?? '' }));
      expect(json(replay).error).toBe('invalid_grant');
      const afterReplay = await provider.token(form({ grant_type: 'refresh_token', refresh_token: second.refresh_token ?? '' }));
      expect(json(afterReplay).error, 'the newest refresh token is revoked too').toBe('invalid_grant');
      for (const token of [first.access_token, second.access_token]) {
        expect((await provider.verifyAccessToken(bearerRequest(token ?? ''))).ok).toBe(false);
      }
    });

    it('refresh_token: concurrent rotations of one token give one success', async () => {
      const { code, verifier } = await codeFlow(provider);
      const first = json(await exchange(provider, code, verifier));
      const results = await Promise.all(
        Array.from({ length: 10 }, () => provider.token(form({ grant_type: 'refresh_token', refresh_token: first.refresh_token ?? '' }))),
      );
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
      expect(results.every((r) => r.status === 200 || json(r).error === 'invalid_grant')).toBe(true);
    });

    it('client_credentials, also for a non-ASCII client id', async () => {
      const res = await provider.token(form({ grant_type: 'client_credentials', scope: 'write' }));
      expect(res.status).toBe(200);
      const check = await provider.verifyAccessToken(bearerRequest(json(res).access_token ?? ''), ['write']);
      expect(check.ok && check.token.userId).toBeNull();
      const unicode = await provider.token(form({ grant_type: 'client_credentials', scope: 'read' }, 'öffentlich-🔑'));
      expect(unicode.status).toBe(200);
      expect(json(unicode).scope).toBe('read');
      expect(json(await provider.token(form({ grant_type: 'client_credentials', scope: 'write' }, 'öffentlich-🔑'))).error).toBe(
        'invalid_scope',
      );
    });

    it('password, with wrong and oversized credentials refused as invalid_grant', async () => {
      const ok = await provider.token(form({ grant_type: 'password', username: 'alice', password: 'correct horse', scope: 'read' }));
      expect(ok.status).toBe(200);
      const check = await provider.verifyAccessToken(bearerRequest(json(ok).access_token ?? ''), ['read']);
      expect(check.ok && check.token.userId).toBe('u-alice');
      for (const [username, password] of [
        ['alice', 'wrong'],
        ['nobody', 'correct horse'],
        ['x'.repeat(10 * 1024), 'correct horse'],
        ['Ålice-ünïcode', 'correct horse'],
      ] as const) {
        const res = await provider.token(form({ grant_type: 'password', username, password }));
        expect(res.status, username.slice(0, 20)).toBe(400);
        expect(json(res).error).toBe('invalid_grant');
      }
    });

    it('bad input at the token endpoint gives OAuth errors, never a 500', async () => {
      const hugeClient = await provider.token(form({ grant_type: 'client_credentials' }, 'c'.repeat(10 * 1024)));
      expect(hugeClient.status).toBe(401);
      expect(json(hugeClient).error).toBe('invalid_client');
      const unknownCode = await exchange(provider, 'no-such-code', 'v'.repeat(43));
      expect(json(unknownCode).error).toBe('invalid_grant');
      const hugeCode = await exchange(provider, 'z'.repeat(10 * 1024), 'v'.repeat(43));
      expect(json(hugeCode).error).toBe('invalid_grant');
      const hugeRefresh = await provider.token(form({ grant_type: 'refresh_token', refresh_token: '🔑'.repeat(5000) }));
      expect(json(hugeRefresh).error).toBe('invalid_grant');
    });

    it("introspection: a resource server sees another client's token, a plain client does not", async () => {
      const { code, verifier } = await codeFlow(provider);
      const t = json(await exchange(provider, code, verifier));
      const ask = (clientId: string, token: string) => provider.introspect(form({ token }, clientId, '/oauth/introspect'));
      for (const token of [t.access_token ?? '', t.refresh_token ?? '']) {
        const byRs = await ask('rs', token);
        expect(byRs.status).toBe(200);
        expect(jsonBody(byRs)).toMatchObject({ active: true, client_id: 'conf', sub: 'u-alice', scope: 'read write' });
        const byPlain = await ask('plain', token);
        expect(byPlain.status).toBe(200);
        expect(byPlain.body).toBe('{"active":false}');
        expect(jsonBody(await ask('conf', token)), 'the owner sees its own token').toMatchObject({ active: true, client_id: 'conf' });
      }
    });

    it('revocation of a refresh token ends its family', async () => {
      const { code, verifier } = await codeFlow(provider);
      const t = json(await exchange(provider, code, verifier));
      const res = await provider.revoke(form({ token: t.refresh_token ?? '', token_type_hint: 'refresh_token' }, 'conf', '/oauth/revoke'));
      expect(res.status).toBe(200);
      expect((await provider.verifyAccessToken(bearerRequest(t.access_token ?? ''))).ok).toBe(false);
      expect(json(await provider.token(form({ grant_type: 'refresh_token', refresh_token: t.refresh_token ?? '' }))).error).toBe(
        'invalid_grant',
      );
    });
  });
}

for (const dialect of ['postgres', 'mariadb'] as const) {
  describe(`${dialect}: a provider whose database goes away`, () => {
    it('answers 503 temporarily_unavailable and leaves no partial rows', async () => {
      const direct = await openDatabase(dialect);
      const proxy = await proxyTo(serverUrl(dialect));
      const viaProxy = await openDatabase(dialect, { location: proxy.url, tablePrefix: direct.tablePrefix });
      try {
        await seed(viaProxy.models);
        const provider = makeProvider(viaProxy);
        expect((await provider.token(form({ grant_type: 'client_credentials' }))).status).toBe(200);
        const { code, verifier } = await codeFlow(provider);
        const before = await direct.models.token.count();
        await proxy.cut();
        for (const request of [
          form({ grant_type: 'client_credentials' }),
          form({ grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier }),
          form({ grant_type: 'password', username: 'alice', password: 'correct horse' }),
        ]) {
          const res = await provider.token(request);
          expect(res.status).toBe(503);
          expect(json(res).error).toBe('temporarily_unavailable');
        }
        const check = await provider.verifyAccessToken(bearerRequest('whatever'));
        expect(check.ok).toBe(false);
        expect(check.ok ? 0 : check.response.status).toBe(503);
        expect(await direct.models.token.count(), 'no token rows written during the outage').toBe(before);
        // The code was not burnt by the failed request: it still works once the database is back.
        const provider2 = makeProvider(direct);
        expect((await exchange(provider2, code, verifier)).status).toBe(200);
      } finally {
        await viaProxy.sequelize.close();
        await direct.close();
      }
    });
  });
}
