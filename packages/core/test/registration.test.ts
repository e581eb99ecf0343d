import { describe, expect, it } from 'vitest';
import { ConfigurationError, type Consumed, createMemoryStores, type GrantRecord, type GrantStore, OAuth2Provider } from '../src/index.js';
import { confidential, exchange, getCode, ISSUER, makeProvider, publicClient } from './helpers.js';

/** A grant store of the user's own, counting calls. */
function customGrants() {
  const saved = new Map<string, GrantRecord>();
  const calls = { save: 0, consume: 0 };
  const store: GrantStore = {
    async saveGrant(g) {
      calls.save++;
      saved.set(`${g.clientId}\u0000${g.code}`, g);
    },
    async consumeGrant(clientId, code): Promise<Consumed<GrantRecord> | null> {
      calls.consume++;
      const k = `${clientId}\u0000${code}`;
      const g = saved.get(k);
      if (!g) return null;
      saved.delete(k);
      return { outcome: 'consumed', record: g };
    },
  };
  return { store, calls, saved };
}

describe('registration', () => {
  it('fails at construction naming the missing slot and the grant that needs it', () => {
    const { grants: _g, ...noGrants } = createMemoryStores({ clients: [confidential] });
    expect(() => new OAuth2Provider({ issuer: ISSUER, stores: noGrants })).toThrow(ConfigurationError);
    expect(() => new OAuth2Provider({ issuer: ISSUER, stores: noGrants })).toThrow(/grants\.saveGrant.*authorization_code/);
    const { users: _u, ...noUsers } = createMemoryStores();
    expect(() => new OAuth2Provider({ issuer: ISSUER, grants: ['password'], stores: noUsers })).toThrow(
      /users\.getUserByUsername.*password grant/,
    );
    // Without the password grant, no user store is needed.
    expect(() => new OAuth2Provider({ issuer: ISSUER, stores: noUsers })).not.toThrow();
  });

  it('validates at adapter creation when stores come later from bindings', () => {
    const provider = new OAuth2Provider({ issuer: ISSUER });
    expect(() => provider.validate()).toThrow(/clients\.getClient/);
    provider.useStores(createMemoryStores());
    expect(() => provider.validate()).not.toThrow();
  });

  it('mixes a custom grant getter and setter with the rest of a binding', async () => {
    const { provider } = makeProvider();
    const custom = customGrants();
    provider.grantSetter(custom.store.saveGrant).grantGetter(custom.store.consumeGrant);
    const { code, verifier } = await getCode(provider);
    expect(custom.saved.size).toBe(1);
    expect((await exchange(provider, code, verifier)).status).toBe(200);
    expect(custom.calls).toEqual({ save: 1, consume: 1 });
  });

  it('replaces only the grant getter, keeping the binding setter', async () => {
    const stores = createMemoryStores({ clients: [confidential] });
    const provider = new OAuth2Provider({ issuer: ISSUER });
    let consumed = 0;
    provider.grantGetter(async (clientId, code) => {
      consumed++;
      return stores.grants.consumeGrant(clientId, code);
    });
    provider.useStores(stores); // a binding registered after the explicit getter
    const { code, verifier } = await getCode(provider);
    expect((await exchange(provider, code, verifier)).status).toBe(200);
    expect(consumed).toBe(1);
  });

  it('an explicit registration beats a binding whatever the order', async () => {
    for (const order of ['explicit-first', 'binding-first'] as const) {
      const provider = new OAuth2Provider({ issuer: ISSUER });
      const custom = customGrants();
      const stores = createMemoryStores({ clients: [confidential] });
      if (order === 'explicit-first') {
        provider.useStores({ grants: custom.store });
        provider.useStores(stores, { source: 'binding' });
      } else {
        provider.useStores(stores, { source: 'binding' });
        provider.useStores({ grants: custom.store });
      }
      const { code, verifier } = await getCode(provider);
      expect((await exchange(provider, code, verifier)).status).toBe(200);
      expect(custom.calls.save, order).toBe(1);
    }
  });

  it('a later binding replaces an earlier binding slot by slot', async () => {
    const provider = new OAuth2Provider({ issuer: ISSUER });
    provider.useStores(createMemoryStores({ clients: [confidential] }));
    const custom = customGrants();
    provider.useStores({ grants: custom.store }, { source: 'binding' });
    await getCode(provider);
    expect(custom.calls.save).toBe(1);
  });

  it('registration after requests were served takes effect at once', async () => {
    const { provider, stores } = makeProvider();
    await getCode(provider);
    let hits = 0;
    provider.clientGetter(async (id) => {
      hits++;
      return id === 'late' ? { ...publicClient, id: 'late' } : stores.clients.getClient(id);
    });
    await getCode(provider);
    expect(hits).toBeGreaterThan(0);
  });

  it('rejects unknown slots and non-functions', () => {
    const { provider } = makeProvider();
    expect(() => provider.register('grants.nope' as 'grants.saveGrant', async () => {})).toThrow(/unknown slot/);
    expect(() => provider.grantGetter(42 as unknown as GrantStore['consumeGrant'])).toThrow(/needs a function/);
  });

  it('the token getter can be replaced on its own', async () => {
    const { provider } = makeProvider();
    provider.tokenGetter(async () => ({
      token: 'x',
      clientId: 'conf',
      userId: 'u',
      scopes: ['read'],
      expiresAt: new Date(Date.now() + 1000),
      grantId: 'g',
    }));
    const r = await provider.verifyAccessToken({ method: 'GET', url: '/', headers: { authorization: 'Bearer anything' } }, ['read']);
    expect(r.ok).toBe(true);
  });
});
