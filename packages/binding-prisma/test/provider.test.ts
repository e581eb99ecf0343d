/**
 * End to end: a provider whose every store is this binding, over a Prisma client on PostgreSQL and SQLite,
 * completes the code, refresh, password and client_credentials grants; refuses replays and
 * revokes the family; and answers 503 when the database cannot be reached.
 */
import { createServer } from 'node:net';
import {
  type AuthorizationCodeFlowOptions,
  authorizationCodeFlow,
  basicAuth,
  bearerRequest,
  formRequest,
  jsonBody,
  redeemCode,
} from '@portcullis/binding-testkit';
import { expectUnavailable } from '@portcullis/binding-testkit/servers';
import { type Client, hashPassword, hashSecret, OAuth2Provider, type OAuthRequest, type OAuthResponse } from '@portcullis/core';
import { PrismaPg } from '@prisma/adapter-pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindPrisma, createPrismaStores, purgeExpired } from '../src/index.js';
import { openDatabase, PROVIDERS, type TestDatabase } from './databases.js';
import { PrismaClient } from './generated/postgresql/client.js';

const SECRET = 'se:cr+et/%&= x-with-every-odd-character';
const CB = 'https://app.example/cb';
const silent = { warn: () => {}, error: () => {} };

const form = (params: Record<string, string>, clientId = 'conf'): OAuthRequest =>
  formRequest('/oauth/token', params, { authorization: basicAuth(clientId, SECRET) });
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
];

const client: AuthorizationCodeFlowOptions = {
  clientId: 'conf',
  clientSecret: SECRET,
  redirectUri: CB,
  scope: 'read write',
  state: 'st-1',
  authorizeUrl: '/oauth/authorize',
  tokenUrl: '/oauth/token',
};

for (const dialect of PROVIDERS) {
  describe(`${dialect}: a provider wired with bindPrisma`, () => {
    let db: TestDatabase;
    let provider: OAuth2Provider;
    beforeAll(async () => {
      db = await openDatabase(dialect);
      await db.seed(CLIENTS, [{ id: 'u-alice', username: 'alice', passwordHash: await hashPassword('correct horse') }]);
      provider = new OAuth2Provider({
        issuer: 'http://127.0.0.1',
        grants: ['authorization_code', 'refresh_token', 'client_credentials', 'password'],
        logger: silent,
      });
      bindPrisma(provider, { prisma: db.prisma, currentUser: () => ({ id: 'u-alice' }) });
    });
    afterAll(async () => {
      await db?.close();
    });

    it('authorization_code with PKCE; only digests at rest; a replayed code is refused and revokes what it minted', async () => {
      const { code, verifier } = await authorizationCodeFlow(provider, client);
      const res = await redeemCode(provider, client, code, verifier);
      expect(res.status, res.body).toBe(200);
      const body = json(res);
      expect(body).toMatchObject({ token_type: 'Bearer', scope: 'read write' });
      const check = await provider.verifyAccessToken(bearerRequest(body.access_token ?? ''), ['read', 'write']);
      expect(check.ok && check.token.userId).toBe('u-alice');
      const rows = JSON.stringify([
        ...(await db.rows('SELECT * FROM portcullis_tokens')),
        ...(await db.rows('SELECT * FROM portcullis_grants')),
      ]);
      expect(rows).not.toContain(body.access_token);
      expect(rows).not.toContain(body.refresh_token);
      expect(rows).not.toContain(code);

      const replay = await redeemCode(provider, client, code, verifier);
      expect(json(replay).error).toBe('invalid_grant');
      expect((await provider.verifyAccessToken(bearerRequest(body.access_token ?? ''))).ok, 'family revoked on code replay').toBe(false);
    });

    it('10 concurrent redemptions of one code give exactly one token response', async () => {
      const { code, verifier } = await authorizationCodeFlow(provider, client);
      const results = await Promise.all(Array.from({ length: 10 }, () => redeemCode(provider, client, code, verifier)));
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
      for (const r of results.filter((x) => x.status !== 200)) expect(json(r).error).toBe('invalid_grant');
    });

    it('refresh_token: rotation, and replay of a rotated token revokes the family', async () => {
      const { code, verifier } = await authorizationCodeFlow(provider, client);
      const first = json(await redeemCode(provider, client, code, verifier));
      const rotated = await provider.token(form({ grant_type: 'refresh_token', refresh_token: first.refresh_token ?? '' }));
      expect(rotated.status, rotated.body).toBe(200);
      const second = json(rotated);
      expect(second.refresh_token).toBeTruthy();
      expect(second.refresh_token).not.toBe(first.refresh_token);
      expect((await provider.verifyAccessToken(bearerRequest(second.access_token ?? ''))).ok).toBe(true);

      const replay = await provider.token(form({ grant_type: 'refresh_token', refresh_token: first.refresh_token ?? '' }));
      expect(json(replay).error).toBe('invalid_grant');
      const after = await provider.token(form({ grant_type: 'refresh_token', refresh_token: second.refresh_token ?? '' }));
      expect(json(after).error, 'the newest refresh token is revoked too').toBe('invalid_grant');
      for (const token of [first.access_token, second.access_token]) {
        expect((await provider.verifyAccessToken(bearerRequest(token ?? ''))).ok).toBe(false);
      }
    });

    it('refresh_token: 10 concurrent rotations of one token give one success (the losers are replays)', async () => {
      const { code, verifier } = await authorizationCodeFlow(provider, client);
      const first = json(await redeemCode(provider, client, code, verifier));
      const results = await Promise.all(
        Array.from({ length: 10 }, () => provider.token(form({ grant_type: 'refresh_token', refresh_token: first.refresh_token ?? '' }))),
      );
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
      for (const r of results.filter((x) => x.status !== 200)) expect(json(r).error).toBe('invalid_grant');
    });

    it('password and client_credentials grants read users and clients through Prisma', async () => {
      const good = await provider.token(form({ grant_type: 'password', username: 'alice', password: 'correct horse', scope: 'read' }));
      expect(good.status, good.body).toBe(200);
      const bad = await provider.token(form({ grant_type: 'password', username: 'alice', password: 'wrong', scope: 'read' }));
      expect(json(bad).error).toBe('invalid_grant');
      const cc = await provider.token(form({ grant_type: 'client_credentials' }));
      expect(cc.status, cc.body).toBe(200);
      expect(json(cc).scope).toBe('read');
      const unknown = await provider.token(form({ grant_type: 'client_credentials' }, 'nobody'));
      expect(json(unknown).error).toBe('invalid_client');
    });

    it('purgeExpired deletes only rows past expiresAt', async () => {
      const before = Number((await db.rows('SELECT count(*) AS n FROM portcullis_tokens'))[0]?.n);
      expect(before).toBeGreaterThan(0);
      expect(await purgeExpired({ prisma: db.prisma })).toBe(0);
      const removed = await purgeExpired({ prisma: db.prisma, now: new Date(Date.now() + 400 * 86_400_000) });
      expect(removed).toBeGreaterThanOrEqual(before);
      expect(Number((await db.rows('SELECT count(*) AS n FROM portcullis_tokens'))[0]?.n)).toBe(0);
    });
  });
}

describe('postgresql unreachable', () => {
  it('a store call throws StoreUnavailableError and the token endpoint answers 503', async () => {
    // A loopback port that was free a moment ago: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const prisma = new PrismaClient({
      adapter: new PrismaPg({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`, connectionTimeoutMillis: 2_000 }),
    });
    try {
      const stores = createPrismaStores({ prisma });
      await expectUnavailable(stores.grants.consumeGrant('conf', 'code'), 'consumeGrant');
      await expectUnavailable(Promise.resolve(stores.tokens.getAccessToken('token')), 'getAccessToken');
      const provider = new OAuth2Provider({ issuer: 'http://127.0.0.1', grants: ['client_credentials'], logger: silent });
      bindPrisma(provider, { prisma });
      const res = await provider.token(form({ grant_type: 'client_credentials' }));
      expect(res.status).toBe(503);
      expect(json(res).error).toBe('temporarily_unavailable');
    } finally {
      await prisma.$disconnect();
    }
  });
});
