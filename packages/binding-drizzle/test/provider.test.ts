/**
 * End to end: a provider whose every store is this binding completes each grant against each
 * database, refuses bad input with OAuth errors, and answers 503 when the database goes away.
 */
import { createServer, connect as netConnect, type Socket } from 'node:net';
import {
  type AuthorizationCodeFlowOptions,
  authorizationCodeFlow,
  basicAuth,
  bearerRequest,
  formRequest,
  jsonBody,
  redeemCode,
} from '@portcullis/binding-testkit';
import { type Client, hashPassword, hashSecret, OAuth2Provider, type OAuthRequest, type OAuthResponse } from '@portcullis/core';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindDrizzle } from '../src/index.js';
import { DIALECTS, openDatabase, serverUrl, type TestDatabase } from './databases.js';

const SECRET = 'se:cr+et/%&= x-with-every-odd-character';
const CB = 'https://app.example/cb';
const silent = { warn: () => {}, error: () => {} };

const form = (params: Record<string, string>, clientId = 'conf', url = '/oauth/token'): OAuthRequest =>
  formRequest(url, params, { authorization: basicAuth(clientId, SECRET) });
const json = (r: OAuthResponse) => jsonBody(r) as Record<string, string>;

const CLIENTS: Client[] = [
  {
    id: 'conf',
    secretHash: hashSecret(SECRET),
    redirectUris: [CB],
    grantTypes: ['authorization_code', 'refresh_token', 'client_credentials', 'password'],
    scopes: ['read', 'write'],
    defaultScopes: ['read'],
  },
  { id: 'öffentlich-🔑', secretHash: hashSecret(SECRET), redirectUris: [CB], grantTypes: ['client_credentials'], scopes: ['read'] },
  { id: 'rs', secretHash: hashSecret(SECRET), redirectUris: [], grantTypes: ['client_credentials'], scopes: [], resourceServer: true },
  { id: 'plain', secretHash: hashSecret(SECRET), redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read'] },
];

async function seed(db: TestDatabase): Promise<void> {
  await db.seed(CLIENTS, [{ id: 'u-alice', username: 'alice', passwordHash: await hashPassword('correct horse') }]);
}

function makeProvider(db: TestDatabase): OAuth2Provider {
  const provider = new OAuth2Provider({
    issuer: 'http://127.0.0.1',
    grants: ['authorization_code', 'refresh_token', 'client_credentials', 'password'],
    logger: silent,
  });
  bindDrizzle(provider, { ...db.options, currentUser: () => ({ id: 'u-alice' }) });
  return provider;
}

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
  describe(`${dialect}: a provider wired with bindDrizzle`, () => {
    let db: TestDatabase;
    let provider: OAuth2Provider;
    beforeAll(async () => {
      db = await openDatabase(dialect);
      await seed(db);
      provider = makeProvider(db);
    });
    afterAll(async () => {
      await db?.close();
    });

    it('authorization_code with PKCE; a replayed code is refused and revokes what it minted', async () => {
      const { code, verifier } = await codeFlow(provider);
      const res = await exchange(provider, code, verifier);
      expect(res.status, res.body).toBe(200);
      const body = json(res);
      expect(body).toMatchObject({ token_type: 'Bearer', scope: 'read write' });
      const check = await provider.verifyAccessToken(bearerRequest(body.access_token ?? ''), ['read', 'write']);
      expect(check.ok && check.token.userId).toBe('u-alice');
      // Only digests are at rest.
      const rows = JSON.stringify(await db.rows(sql`SELECT * FROM portcullis_tokens`));
      expect(rows).not.toContain(body.access_token);
      expect(rows).not.toContain(body.refresh_token);

      const replay = await exchange(provider, code, verifier);
      expect(replay.status).toBe(400);
      expect(json(replay).error).toBe('invalid_grant');
      expect((await provider.verifyAccessToken(bearerRequest(body.access_token ?? ''))).ok, 'family revoked on code replay').toBe(false);
    });

    it('10 concurrent redemptions of one code give exactly one token response', async () => {
      const { code, verifier } = await codeFlow(provider);
      const results = await Promise.all(Array.from({ length: 10 }, () => exchange(provider, code, verifier)));
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
      for (const r of results.filter((x) => x.status !== 200)) expect(json(r).error).toBe('invalid_grant');
    });

    it('a wrong PKCE verifier is refused and still burns the code', async () => {
      const { code, verifier } = await codeFlow(provider);
      expect(json(await exchange(provider, code, `${verifier}x`)).error).toBe('invalid_grant');
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

    it('refresh_token: 10 concurrent rotations of one token give one success', async () => {
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

    it('password, with wrong, oversized and look-alike credentials refused as invalid_grant', async () => {
      const ok = await provider.token(form({ grant_type: 'password', username: 'alice', password: 'correct horse', scope: 'read' }));
      expect(ok.status).toBe(200);
      const check = await provider.verifyAccessToken(bearerRequest(json(ok).access_token ?? ''), ['read']);
      expect(check.ok && check.token.userId).toBe('u-alice');
      for (const [username, password] of [
        ['alice', 'wrong'],
        ['nobody', 'correct horse'],
        ['ALICE', 'correct horse'],
        ['alice ', 'correct horse'],
        ['x'.repeat(10 * 1024), 'correct horse'],
        ['al\u0000ice', 'correct horse'],
      ] as const) {
        const res = await provider.token(form({ grant_type: 'password', username, password }));
        expect(res.status, username.slice(0, 20)).toBe(400);
        expect(json(res).error).toBe('invalid_grant');
      }
    });

    it('bad input at the token endpoint gives OAuth errors, never a 500', async () => {
      for (const id of ['c'.repeat(10 * 1024), 'CONF', 'conf ', 'co\u0000nf']) {
        const res = await provider.token(form({ grant_type: 'client_credentials' }, id));
        expect(res.status, JSON.stringify(id.slice(0, 10))).toBe(401);
        expect(json(res).error).toBe('invalid_client');
      }
      expect(json(await exchange(provider, 'no-such-code', 'v'.repeat(43))).error).toBe('invalid_grant');
      expect(json(await exchange(provider, 'z'.repeat(10 * 1024), 'v'.repeat(43))).error).toBe('invalid_grant');
      const hugeRefresh = await provider.token(form({ grant_type: 'refresh_token', refresh_token: '🔑'.repeat(5000) }));
      expect(json(hugeRefresh).error).toBe('invalid_grant');
    });

    it("introspection: a resource server sees another client's token, a plain client does not", async () => {
      const { code, verifier } = await codeFlow(provider);
      const t = json(await exchange(provider, code, verifier));
      const ask = (clientId: string, token: string) => provider.introspect(form({ token }, clientId, '/oauth/introspect'));
      for (const token of [t.access_token ?? '', t.refresh_token ?? '']) {
        expect(jsonBody(await ask('rs', token))).toMatchObject({ active: true, client_id: 'conf', sub: 'u-alice', scope: 'read write' });
        expect((await ask('plain', token)).body).toBe('{"active":false}');
      }
    });

    it('revocation of an access token, and of a refresh token ending its family', async () => {
      const { code, verifier } = await codeFlow(provider);
      const t = json(await exchange(provider, code, verifier));
      const other = json(await exchange(provider, ...(Object.values(await codeFlow(provider)).slice(0, 2) as [string, string])));
      expect((await provider.revoke(form({ token: other.access_token ?? '' }, 'conf', '/oauth/revoke'))).status).toBe(200);
      expect((await provider.verifyAccessToken(bearerRequest(other.access_token ?? ''))).ok).toBe(false);
      expect((await provider.verifyAccessToken(bearerRequest(t.access_token ?? ''))).ok, 'another grant is untouched').toBe(true);
      const res = await provider.revoke(form({ token: t.refresh_token ?? '', token_type_hint: 'refresh_token' }, 'conf', '/oauth/revoke'));
      expect(res.status).toBe(200);
      expect((await provider.verifyAccessToken(bearerRequest(t.access_token ?? ''))).ok).toBe(false);
      expect(json(await provider.token(form({ grant_type: 'refresh_token', refresh_token: t.refresh_token ?? '' }))).error).toBe(
        'invalid_grant',
      );
    });
  });
}

/** A loopback TCP proxy in front of a server; `cut()` drops every connection and stops listening. */
async function proxyTo(url: string): Promise<{ url: string; cut: () => Promise<void> }> {
  const target = new URL(url);
  const sockets = new Set<Socket>();
  const server = createServer((downstream) => {
    const upstream = netConnect({ host: '127.0.0.1', port: Number(target.port) });
    sockets.add(downstream).add(upstream);
    downstream.pipe(upstream).pipe(downstream);
    const drop = () => {
      downstream.destroy();
      upstream.destroy();
    };
    for (const s of [downstream, upstream]) s.on('close', drop).on('error', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('proxy has no port');
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(address.port);
  return {
    url: proxied.toString(),
    cut: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

for (const dialect of ['postgresql', 'mysql'] as const) {
  describe(`${dialect}: a provider whose database goes away`, () => {
    it('answers 503 temporarily_unavailable, and the code survives the outage', async () => {
      const direct = await openDatabase(dialect);
      const proxy = await proxyTo(serverUrl(dialect));
      const database = (
        await direct.rows(dialect === 'postgresql' ? sql`SELECT current_database() AS db` : sql`SELECT DATABASE() AS db`)
      )[0]?.db as string;
      const viaProxy = await openDatabase(dialect, { server: proxy.url, database });
      try {
        await seed(direct);
        const provider = makeProvider(viaProxy);
        expect((await provider.token(form({ grant_type: 'client_credentials' }))).status).toBe(200);
        const { code, verifier } = await codeFlow(provider);
        await proxy.cut();
        for (const request of [
          form({ grant_type: 'client_credentials' }),
          form({ grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier }),
          form({ grant_type: 'password', username: 'alice', password: 'correct horse' }),
        ]) {
          const res = await provider.token(request);
          expect(res.status, res.body).toBe(503);
          expect(json(res).error).toBe('temporarily_unavailable');
        }
        const check = await provider.verifyAccessToken(bearerRequest('whatever'));
        expect(check.ok ? 0 : check.response.status).toBe(503);
        // The code was not burnt by the failed request: it still works once the database is back.
        expect((await exchange(makeProvider(direct), code, verifier)).status).toBe(200);
      } finally {
        await viaProxy.close();
        await direct.close();
      }
    });
  });
}
