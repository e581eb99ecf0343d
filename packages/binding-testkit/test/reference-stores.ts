import type {
  AccessTokenRecord,
  Consumed,
  GrantRecord,
  GrantStore,
  RefreshTokenRecord,
  StoreCapabilities,
  TokenStore,
} from '@portcullis/core';

/** Correct in-test reference stores, and deliberately broken variants the suite must catch. */

const live = (r: { expiresAt: Date } | undefined): boolean => r !== undefined && r.expiresAt.getTime() > Date.now();
const copy = <T extends { expiresAt: Date; scopes: readonly string[] }>(r: T): T => ({
  ...r,
  scopes: [...r.scopes],
  expiresAt: new Date(r.expiresAt),
});

export interface MapGrantStore extends GrantStore {
  readonly entries: Map<string, GrantRecord | { consumed: string }>;
}

/**
 * A correct grant store, declaring its capabilities. The key is a JSON pair, so no separator can
 * collide. It checks `expiresAt` itself, so it may declare either TTL granularity.
 */
export function mapGrantStore(detectsReplay: boolean, ttlGranularity: StoreCapabilities['ttlGranularity'] = 'ms'): MapGrantStore {
  const entries = new Map<string, GrantRecord | { consumed: string }>();
  const key = (clientId: string, code: string) => JSON.stringify([clientId, code]);
  return {
    entries,
    detectsReplay,
    capabilities: { detectsReplay, ttlGranularity },
    async saveGrant(grant) {
      entries.set(key(grant.clientId, grant.code), copy(grant));
    },
    async consumeGrant(clientId, code): Promise<Consumed<GrantRecord> | null> {
      const k = key(clientId, code);
      const entry = entries.get(k);
      if (entry === undefined) return null;
      if ('consumed' in entry) return { outcome: 'replayed', grantId: entry.consumed };
      if (detectsReplay) entries.set(k, { consumed: entry.grantId });
      else entries.delete(k);
      return live(entry) ? { outcome: 'consumed', record: copy(entry) } : null;
    },
  };
}

export interface MapTokenStore extends TokenStore {
  readonly access: Map<string, AccessTokenRecord>;
  readonly refresh: Map<string, RefreshTokenRecord & { consumed?: boolean }>;
}

/** A correct token store, declaring its capabilities. */
export function mapTokenStore(detectsReplay: boolean, ttlGranularity: StoreCapabilities['ttlGranularity'] = 'ms'): MapTokenStore {
  const access = new Map<string, AccessTokenRecord>();
  const refresh = new Map<string, RefreshTokenRecord & { consumed?: boolean }>();
  return {
    access,
    refresh,
    detectsReplay,
    capabilities: { detectsReplay, ttlGranularity },
    async saveTokens(a, r) {
      access.set(a.token, copy(a));
      if (r) refresh.set(r.token, copy(r));
    },
    async getAccessToken(token) {
      const a = access.get(token);
      return a && live(a) ? copy(a) : null;
    },
    async getRefreshToken(token) {
      const r = refresh.get(token);
      return r && !r.consumed && live(r) ? copy(r) : null;
    },
    async consumeRefreshToken(token): Promise<Consumed<RefreshTokenRecord> | null> {
      const r = refresh.get(token);
      if (!r || !live(r)) return null;
      if (r.consumed) return detectsReplay ? { outcome: 'replayed', grantId: r.grantId } : null;
      if (detectsReplay) refresh.set(token, { ...r, consumed: true });
      else refresh.delete(token);
      const { consumed: _, ...record } = r;
      return { outcome: 'consumed', record: copy(record) };
    },
    async revokeAccessToken(token) {
      access.delete(token);
    },
    async revokeFamily(grantId) {
      for (const [k, v] of access) if (v.grantId === grantId) access.delete(k);
      for (const [k, v] of refresh) if (v.grantId === grantId) refresh.delete(k);
    },
  };
}

/** The classic race: look up, yield, delete. Every concurrent caller wins. */
export function racyGrantStore(): GrantStore {
  const inner = mapGrantStore(false);
  return {
    saveGrant: (g) => inner.saveGrant(g),
    async consumeGrant(clientId, code) {
      const k = JSON.stringify([clientId, code]);
      const entry = inner.entries.get(k);
      await new Promise((resolve) => setImmediate(resolve));
      inner.entries.delete(k);
      return entry && !('consumed' in entry) && live(entry) ? { outcome: 'consumed', record: copy(entry) } : null;
    },
  };
}

/** Flask-OAuthlib's key: client id and code concatenated with no separator. */
export function concatKeyGrantStore(): GrantStore {
  const entries = new Map<string, GrantRecord>();
  return {
    async saveGrant(g) {
      entries.set(g.clientId + g.code, copy(g));
    },
    async consumeGrant(clientId, code) {
      const g = entries.get(clientId + code);
      entries.delete(clientId + code);
      return g && live(g) ? { outcome: 'consumed', record: copy(g) } : null;
    },
  };
}

/** Trusts native TTL rounded to whole seconds and never checks expiresAt itself. */
export function noExpiryCheckGrantStore(): GrantStore {
  const inner = mapGrantStore(false);
  return {
    saveGrant: (g) => inner.saveGrant({ ...g, expiresAt: new Date(g.expiresAt.getTime() + 5000) }).then(() => undefined),
    async consumeGrant(clientId, code) {
      const r = await inner.consumeGrant(clientId, code);
      return r?.outcome === 'consumed'
        ? { outcome: 'consumed', record: { ...r.record, expiresAt: new Date(r.record.expiresAt.getTime() - 5000) } }
        : r;
    },
  };
}

/** Serializes records as JSON and forgets to revive the Date. */
export function stringDateGrantStore(): GrantStore {
  const entries = new Map<string, string>();
  const key = (clientId: string, code: string) => JSON.stringify([clientId, code]);
  return {
    async saveGrant(g) {
      entries.set(key(g.clientId, g.code), JSON.stringify(g));
    },
    async consumeGrant(clientId, code) {
      const raw = entries.get(key(clientId, code));
      entries.delete(key(clientId, code));
      if (raw === undefined) return null;
      const record = JSON.parse(raw) as GrantRecord;
      return new Date(record.expiresAt).getTime() > Date.now() ? { outcome: 'consumed', record } : null;
    },
  };
}

/** Keeps one token per user: a second login signs out the first device. */
export function onePairPerUserTokenStore(): TokenStore {
  const inner = mapTokenStore(false);
  return {
    ...inner,
    async saveTokens(a, r) {
      for (const [k, v] of inner.access) if (v.userId === a.userId && v.clientId === a.clientId) inner.access.delete(k);
      for (const [k, v] of inner.refresh) if (v.userId === a.userId && v.clientId === a.clientId) inner.refresh.delete(k);
      await inner.saveTokens(a, r);
    },
  };
}

/** Refresh-token consume as get-then-delete across an await. */
export function racyTokenStore(): TokenStore {
  const inner = mapTokenStore(false);
  return {
    ...inner,
    async consumeRefreshToken(token) {
      const r = await inner.getRefreshToken(token);
      await new Promise((resolve) => setImmediate(resolve));
      inner.refresh.delete(token);
      return r ? { outcome: 'consumed', record: r } : null;
    },
  };
}

/** Keeps `redirectUri` in a text column that cannot hold NULL: `null` comes back as `''`. */
export function nullAsEmptyGrantStore(): GrantStore {
  const inner = mapGrantStore(false);
  return {
    saveGrant: (g) => inner.saveGrant({ ...g, redirectUri: g.redirectUri ?? '' }),
    consumeGrant: (clientId, code) => inner.consumeGrant(clientId, code),
  };
}

/** Reads `redirectUri` with `String(value)`: SQL NULL comes back as the text `'null'`. */
export function nullAsTextGrantStore(): GrantStore {
  const inner = mapGrantStore(false);
  return {
    saveGrant: (g) => inner.saveGrant(g),
    async consumeGrant(clientId, code) {
      const r = await inner.consumeGrant(clientId, code);
      return r?.outcome === 'consumed' ? { outcome: 'consumed', record: { ...r.record, redirectUri: String(r.record.redirectUri) } } : r;
    },
  };
}

/** Forgets the redirect URI: every code comes back as if the authorization request had none. */
export function forgetfulRedirectGrantStore(): GrantStore {
  const inner = mapGrantStore(false);
  return {
    capabilities: inner.capabilities,
    saveGrant: (g) => inner.saveGrant({ ...g, redirectUri: null }),
    consumeGrant: (clientId, code) => inner.consumeGrant(clientId, code),
  };
}
