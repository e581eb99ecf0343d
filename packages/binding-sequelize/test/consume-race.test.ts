/**
 * The losing side of a race to redeem a code or rotate a refresh token, with other rows in the
 * table. The contract allows a loser to get `null`; this binding promises more (`detectsReplay`):
 * every loser gets `replayed` with the family, so core revokes what the code or token issued even
 * when the replay arrives while the winner's request is still running. A loser re-reads its own
 * row after the conditional UPDATE changed nothing; these tests fail if it read any other row (a
 * lookup that lost its key finds the first row of the table, an unconsumed one).
 */
import type { GrantRecord, RefreshTokenRecord } from '@portcullis/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createGrantStore, createTokenStore } from '../src/index.js';
import { DIALECTS, openDatabase, type TestDatabase } from './databases.js';

const opened: TestDatabase[] = [];
afterAll(async () => {
  await Promise.all(opened.map((db) => db.close()));
});
const hour = () => new Date(Date.now() + 3_600_000);

function grant(n: number): GrantRecord {
  return {
    code: `race-code-${n}-${Math.random()}`,
    clientId: 'c1',
    userId: 'u1',
    redirectUri: 'https://app.example/cb',
    scopes: ['read'],
    expiresAt: hour(),
    grantId: `family-${n}`,
    codeChallenge: null,
    codeChallengeMethod: null,
  };
}
function refresh(n: number): RefreshTokenRecord {
  return {
    token: `race-refresh-${n}-${Math.random()}`,
    clientId: 'c1',
    userId: 'u1',
    scopes: ['read'],
    expiresAt: hour(),
    grantId: `family-${n}`,
  };
}

for (const dialect of DIALECTS) {
  describe(`sequelize ${dialect}`, () => {
    it('every loser of 10 concurrent code redemptions gets replayed, other codes in the table', async () => {
      const db = await openDatabase(dialect);
      opened.push(db);
      const store = createGrantStore(db.models.grant);
      // Saved first, so a lookup without its key would find one of these.
      for (const g of [grant(1), grant(2)]) await store.saveGrant(g);
      const target = grant(3);
      await store.saveGrant(target);
      const results = await Promise.all(Array.from({ length: 10 }, () => store.consumeGrant('c1', target.code)));
      expect(results.filter((r) => r?.outcome === 'consumed')).toHaveLength(1);
      for (const r of results) if (r?.outcome !== 'consumed') expect(r).toEqual({ outcome: 'replayed', grantId: 'family-3' });
    });

    it('every loser of 10 concurrent refresh token rotations gets replayed, other tokens in the table', async () => {
      const db = await openDatabase(dialect);
      opened.push(db);
      const store = createTokenStore(db.models.token);
      const access = (r: RefreshTokenRecord) => ({ ...r, token: `${r.token}-access` });
      for (const r of [refresh(1), refresh(2)]) await store.saveTokens(access(r), r);
      const target = refresh(3);
      await store.saveTokens(access(target), target);
      const results = await Promise.all(Array.from({ length: 10 }, () => store.consumeRefreshToken(target.token)));
      expect(results.filter((r) => r?.outcome === 'consumed')).toHaveLength(1);
      for (const r of results) if (r?.outcome !== 'consumed') expect(r).toEqual({ outcome: 'replayed', grantId: 'family-3' });
    });
  });
}
