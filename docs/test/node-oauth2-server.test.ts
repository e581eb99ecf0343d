/**
 * docs/migrating-from-node-oauth2-server.md: tokens and secrets of the old model keep working
 * after the one-time migration, nothing raw is left in the new tables, the refresh grant rotates
 * atomically and a replay revokes the family, and the stores pass the testkit's contract suites.
 */
import assert from 'node:assert/strict';
import { basicAuth, formRequest, grantStoreSuite, jsonBody, tokenAccepted, tokenStoreSuite } from '@portcullis/binding-testkit';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createProvider, createStores, migrateRows, type Tables } from '../examples/node-oauth2-server.js';

const newTables = (): Tables => ({ clients: new Map(), users: new Map(), codes: new Map(), access: new Map(), refresh: new Map() });
const t = { describe, it, beforeAll, afterAll };
grantStoreSuite(t, { name: 'migrated model', create: async () => createStores(newTables()).grants });
tokenStoreSuite(t, { name: 'migrated model', create: async () => createStores(newTables()).tokens });

describe('migrating from @node-oauth/oauth2-server', () => {
  const hour = () => new Date(Date.now() + 3600_000);
  const db = newTables();
  const migrated = migrateRows(
    [
      {
        id: 'legacy',
        secret: 'old-secret',
        redirectUris: [],
        grants: ['refresh_token', 'client_credentials', 'password'],
        scopes: ['read'],
      },
    ],
    [
      {
        accessToken: 'raw-access-1',
        accessTokenExpiresAt: hour(),
        refreshToken: 'raw-refresh-1',
        refreshTokenExpiresAt: hour(),
        scope: ['read'],
        clientId: 'legacy',
        userId: 'u1',
      },
    ],
    db,
  );
  beforeAll(() => migrated);
  const provider = createProvider(db);
  const asLegacy = { authorization: basicAuth('legacy', 'old-secret') };

  it('keeps no raw token or secret in the new tables', () => {
    const text = JSON.stringify([...db.clients.values(), ...db.access.values(), ...db.refresh.values()]);
    for (const raw of ['raw-access-1', 'raw-refresh-1', 'old-secret']) assert.ok(!text.includes(raw), raw);
  });

  it('accepts the tokens handed out before the migration, and the old client secret', async () => {
    assert.ok(await tokenAccepted(provider, 'raw-access-1', ['read']));
    const cc = await provider.token(formRequest('/oauth/token', { grant_type: 'client_credentials', scope: 'read' }, asLegacy));
    assert.equal(cc.status, 200, cc.body);
    const wrong = await provider.token(
      formRequest('/oauth/token', { grant_type: 'client_credentials' }, { authorization: basicAuth('legacy', 'x') }),
    );
    assert.equal(wrong.status, 401);
  });

  it('rotates an old refresh token once; its replay revokes the new tokens', async () => {
    const refresh = () =>
      provider.token(formRequest('/oauth/token', { grant_type: 'refresh_token', refresh_token: 'raw-refresh-1' }, asLegacy));
    const [a, b] = await Promise.all([refresh(), refresh()]);
    assert.deepEqual([a.status, b.status].sort(), [200, 400], 'one of two concurrent refreshes wins');
    const winner = a.status === 200 ? a : b;
    assert.equal(jsonBody(a.status === 200 ? b : a).error, 'invalid_grant');
    // The loser was a replay: core revoked the family, the winner's tokens included.
    assert.equal(await tokenAccepted(provider, String(jsonBody(winner).access_token)), false);
    assert.equal(await tokenAccepted(provider, 'raw-access-1'), false);
  });

  it('refuses scopes outside the server-wide list (validateScope)', async () => {
    const res = await provider.token(formRequest('/oauth/token', { grant_type: 'client_credentials', scope: 'admin' }, asLegacy));
    assert.equal(jsonBody(res).error, 'invalid_scope');
  });
});
