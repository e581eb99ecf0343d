import assert from 'node:assert/strict';
import { grantChecks, tokenChecks } from '@portcullis/binding-testkit';
import type { AccessTokenRecord, GrantStore, RefreshTokenRecord, StoreCapabilities, TokenStore } from '@portcullis/core';
import { describe, it } from 'vitest';
import { mapGrantStore, mapTokenStore } from './reference-stores.js';

/** The `authTime` checks (RFC 9068 `auth_time`): correct stores pass them, stores that lose or mangle it fail them. */

const ms: StoreCapabilities = { detectsReplay: true, ttlGranularity: 'ms' };

/** A grant store that changes the record on its way in. */
function grantStoreSaving(change: (g: Parameters<GrantStore['saveGrant']>[0]) => object): GrantStore {
  const inner = mapGrantStore(true);
  return { ...inner, saveGrant: (g) => inner.saveGrant(change(g) as typeof g) };
}

/** A token store that changes the refresh record on its way in. */
function tokenStoreSaving(change: (r: RefreshTokenRecord) => object): TokenStore {
  const inner = mapTokenStore(true);
  return {
    ...inner,
    saveTokens: (a: AccessTokenRecord, r: RefreshTokenRecord | null) =>
      inner.saveTokens(a, r === null ? null : (change(r) as RefreshTokenRecord)),
  };
}

describe('the authTime checks catch broken stores', () => {
  it('pass on the correct reference stores', async () => {
    await grantChecks.authTime.run({ store: mapGrantStore(true), capabilities: ms });
    await tokenChecks.authTime.run({ store: mapTokenStore(true), capabilities: ms });
  });

  it('a grant store that drops authTime, gives null for none, or keeps whole seconds only', async () => {
    await assert.rejects(
      grantChecks.authTime.run({ store: grantStoreSaving(({ authTime: _, ...g }) => g), capabilities: ms }),
      /grant with authTime: authTime must come back as a Date/,
    );
    await assert.rejects(
      grantChecks.authTime.run({ store: grantStoreSaving((g) => ({ ...g, authTime: g.authTime ?? null })), capabilities: ms }),
      /grant without authTime: authTime was not saved, so it must come back absent/,
    );
    const seconds = grantStoreSaving((g) =>
      g.authTime ? { ...g, authTime: new Date(Math.floor(g.authTime.getTime() / 1000) * 1000) } : g,
    );
    await assert.rejects(
      grantChecks.authTime.run({ store: seconds, capabilities: ms }),
      /authTime must equal the saved Date to the millisecond/,
    );
  });

  it("a grant store that hands one grant's authTime to another of the same client", async () => {
    let first: Date | undefined;
    const shared = grantStoreSaving((g) => {
      first ??= g.authTime;
      return { ...g, authTime: first };
    });
    await assert.rejects(grantChecks.authTime.run({ store: shared, capabilities: ms }), /authTime/);
  });

  it("a token store that drops a refresh token's authTime, or gives null for none", async () => {
    await assert.rejects(
      tokenChecks.authTime.run({ store: tokenStoreSaving(({ authTime: _, ...r }) => r), capabilities: ms }),
      /refresh token with authTime: getRefreshToken: authTime must come back as a Date/,
    );
    await assert.rejects(
      tokenChecks.authTime.run({ store: tokenStoreSaving((r) => ({ ...r, authTime: r.authTime ?? null })), capabilities: ms }),
      /refresh token without authTime: getRefreshToken: authTime was not saved/,
    );
  });

  it('a token store that keeps authTime for get but drops it on consume', async () => {
    const inner = mapTokenStore(true);
    const store: TokenStore = {
      ...inner,
      async consumeRefreshToken(token) {
        const result = await inner.consumeRefreshToken(token);
        if (result?.outcome !== 'consumed') return result;
        const { authTime: _, ...record } = result.record;
        return { outcome: 'consumed', record };
      },
    };
    await assert.rejects(tokenChecks.authTime.run({ store, capabilities: ms }), /consumeRefreshToken: authTime must come back as a Date/);
  });
});
