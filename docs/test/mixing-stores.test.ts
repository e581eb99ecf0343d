/**
 * docs/mixing-stores.md: the mixed provider of the example on real stores (Sequelize on SQLite in
 * memory, the Redis the global setup started): each record lands where the guide says, the code
 * flow and the password grant complete, and the client kept in code wins over the table.
 */
import assert from 'node:assert/strict';
import { defineModels } from '@portcullis/binding-sequelize';
import { basicAuth, formRequest, jsonBody, locationOf, pkcePair, tokenAccepted } from '@portcullis/binding-testkit';
import { type CacheGrant, hashPassword, hashSecret, type OAuth2Provider } from '@portcullis/core';
import { createClient } from 'redis';
import { Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, inject, it } from 'vitest';
import { createMixedProvider, dashboard } from '../examples/mixing-stores.js';

describe('mixing stores guide', () => {
  const sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
  const redis = createClient({ url: inject('redisUrl') });
  redis.on('error', () => {});
  let provider: OAuth2Provider;
  let codes: CacheGrant;

  beforeAll(async () => {
    await redis.connect();
    ({ provider, codes } = await createMixedProvider(sequelize, inject('redisUrl')));
    const models = defineModels(sequelize);
    await models.client.create({
      id: dashboard.id, // the same id in the table: the explicit getter must win
      secretHash: hashSecret('from-the-table-0123456789abcdefghij0123456789'),
      redirectUris: ['https://evil.example/cb'],
      grantTypes: ['authorization_code'],
      scopes: ['read'],
    });
    await models.client.create({
      id: 'partner',
      secretHash: hashSecret('pw-0123456789abcdefghij0123456789'),
      redirectUris: [],
      grantTypes: ['password'],
      scopes: ['read'],
    });
    await models.user.create({ id: 'u-alice', username: 'alice', passwordHash: await hashPassword('correct horse') });
  });
  afterAll(async () => {
    await codes?.disconnect();
    redis.destroy();
    await sequelize.close();
  });

  it('keeps the code in Redis and the tokens in SQL, with the user from currentUser and the client from code', async () => {
    const { verifier, challenge } = pkcePair();
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: dashboard.id,
      redirect_uri: dashboard.redirectUris[0]!,
      scope: 'read write',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const asked = await provider.authorize({ method: 'GET', url: `/oauth/authorize?${query}`, headers: {} });
    assert.equal(asked.type, 'consent', 'the registered URI is the one kept in code, not the table row');
    const decision = { method: 'POST', url: '/oauth/authorize', headers: { 'x-signed-in-user': 'u-alice' } };
    const redirect = await provider.completeAuthorization(query.toString(), { approved: true }, decision);
    assert.equal(redirect.status, 302, redirect.body);
    const code = new URL(locationOf(redirect)).searchParams.get('code')!;

    assert.equal((await redis.keys('auth:*')).length, 1, 'the code is in Redis under the configured prefix');
    const tables = await sequelize.getQueryInterface().showAllTables();
    assert.ok(!tables.some((table: unknown) => String(table).includes('grant')), 'no grant table: codes never touch SQL');

    const res = await provider.token(
      formRequest('/oauth/token', {
        grant_type: 'authorization_code',
        code,
        redirect_uri: dashboard.redirectUris[0]!,
        client_id: dashboard.id,
        code_verifier: verifier,
      }),
    );
    assert.equal(res.status, 200, res.body);
    const body = jsonBody(res);
    assert.equal(body.scope, 'read write');
    const rows = await defineModels(sequelize).token.findAll();
    assert.deepEqual(rows.map((r) => [r.get('kind'), r.get('userId')]).sort(), [
      ['access', 'u-alice'],
      ['refresh', 'u-alice'],
    ]);
    assert.ok(await tokenAccepted(provider, String(body.access_token), ['write']));
  });

  it('serves the password grant from the SQL clients and users', async () => {
    const res = await provider.token(
      formRequest(
        '/oauth/token',
        { grant_type: 'password', username: 'alice', password: 'correct horse', scope: 'read' },
        { authorization: basicAuth('partner', 'pw-0123456789abcdefghij0123456789') },
      ),
    );
    assert.equal(res.status, 200, res.body);
    const wrong = await provider.token(
      formRequest(
        '/oauth/token',
        { grant_type: 'password', username: 'alice', password: 'wrong', scope: 'read' },
        { authorization: basicAuth('partner', 'pw-0123456789abcdefghij0123456789') },
      ),
    );
    assert.equal(jsonBody(wrong).error, 'invalid_grant');
  });
});
