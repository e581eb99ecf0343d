/**
 * From an @node-oauth/oauth2-server model to the four stores: the rows an existing model kept
 * (raw tokens, plain secrets) converted once, and the stores that replace its methods.
 * Guide: docs/migrating-from-node-oauth2-server.md.
 */
import {
  type AccessTokenRecord,
  type Client,
  type Consumed,
  digestToken,
  type GrantRecord,
  type GrantType,
  hashPassword,
  hashSecret,
  OAuth2Provider,
  type RefreshTokenRecord,
  type Stores,
  type User,
  type UserCredentials,
} from '@portcullis/core';

/** A token row as the old model saved it (`saveToken`): the raw values. */
export interface OldTokenRow {
  accessToken: string;
  accessTokenExpiresAt: Date;
  refreshToken?: string;
  refreshTokenExpiresAt?: Date;
  scope: string[];
  clientId: string;
  userId: string | null;
}

/** A client row as `getClient(clientId, clientSecret)` compared it: a plain secret. */
export interface OldClientRow {
  id: string;
  secret: string | null;
  redirectUris: string[];
  grants: string[];
  scopes: string[];
}

/** The new tables: digests and hashes only. */
export interface Tables {
  clients: Map<string, Client>;
  users: Map<string, UserCredentials>;
  codes: Map<string, { record: GrantRecord; used: boolean }>;
  access: Map<string, AccessTokenRecord>;
  refresh: Map<string, { record: RefreshTokenRecord; used: boolean }>;
}

/** Run once: tokens already handed out keep working, stored as the digests core looks up. */
export async function migrateRows(oldClients: OldClientRow[], oldTokens: OldTokenRow[], db: Tables): Promise<void> {
  for (const c of oldClients) {
    db.clients.set(c.id, {
      id: c.id,
      // hashSecret only takes generated secrets (32+ characters); a shorter one gets scrypt.
      secretHash: c.secret === null ? null : c.secret.length >= 32 ? hashSecret(c.secret) : await hashPassword(c.secret),
      redirectUris: c.redirectUris,
      grantTypes: c.grants.filter((g): g is GrantType => ['authorization_code', 'refresh_token', 'client_credentials'].includes(g)),
      scopes: c.scopes,
    });
  }
  for (const [i, t] of oldTokens.entries()) {
    const grantId = `migrated-${i}`; // one family per old token pair
    const common = { clientId: t.clientId, userId: t.userId, scopes: t.scope, grantId };
    const access = { ...common, token: digestToken(t.accessToken), expiresAt: t.accessTokenExpiresAt };
    db.access.set(access.token, access);
    if (t.refreshToken && t.refreshTokenExpiresAt) {
      const record = { ...common, token: digestToken(t.refreshToken), expiresAt: t.refreshTokenExpiresAt };
      db.refresh.set(record.token, { record, used: false });
    }
  }
}

const live = (r: { expiresAt: Date }) => r.expiresAt.getTime() > Date.now();

export function createStores(db: Tables): Required<Stores> {
  return {
    // getClient(clientId, clientSecret): look up by id only; core verifies the secret, the
    // redirect URI (validateRedirectUri) and the grant type.
    clients: { getClient: async (clientId) => db.clients.get(clientId) ?? null },
    // getUser(username, password): return the hash; core verifies the password.
    users: { getUserByUsername: async (username) => db.users.get(username) ?? null },
    grants: {
      capabilities: { detectsReplay: true, ttlGranularity: 'ms' },
      detectsReplay: true,
      // saveAuthorizationCode(code, client, user)
      async saveGrant(grant) {
        db.codes.set(JSON.stringify([grant.clientId, grant.code]), { record: grant, used: false });
      },
      // getAuthorizationCode(code) + revokeAuthorizationCode(code), as one atomic step.
      async consumeGrant(clientId, code): Promise<Consumed<GrantRecord> | null> {
        const row = db.codes.get(JSON.stringify([clientId, code]));
        if (!row || !live(row.record)) return null;
        if (row.used) return { outcome: 'replayed', grantId: row.record.grantId };
        row.used = true;
        return { outcome: 'consumed', record: row.record };
      },
    },
    tokens: {
      capabilities: { detectsReplay: true, ttlGranularity: 'ms' },
      detectsReplay: true,
      // saveToken(token, client, user): two records, nothing to return.
      async saveTokens(access, refresh) {
        db.access.set(access.token, access);
        if (refresh) db.refresh.set(refresh.token, { record: refresh, used: false });
      },
      // getAccessToken(accessToken); verifyScope is core's (requireOAuth(provider, 'read')).
      getAccessToken: async (token) => {
        const t = db.access.get(token);
        return t && live(t) ? t : null;
      },
      // getRefreshToken(refreshToken), for introspection and revocation.
      async getRefreshToken(token) {
        const row = db.refresh.get(token);
        return row && !row.used && live(row.record) ? row.record : null;
      },
      // getRefreshToken + revokeToken of the refresh grant, as one atomic step.
      async consumeRefreshToken(token): Promise<Consumed<RefreshTokenRecord> | null> {
        const row = db.refresh.get(token);
        if (!row || !live(row.record)) return null;
        if (row.used) return { outcome: 'replayed', grantId: row.record.grantId };
        row.used = true;
        return { outcome: 'consumed', record: row.record };
      },
      // revokeToken(token) at the revocation endpoint (RFC 7009).
      async revokeAccessToken(token) {
        db.access.delete(token);
      },
      async revokeFamily(grantId) {
        for (const [k, t] of db.access) if (t.grantId === grantId) db.access.delete(k);
        for (const [k, row] of db.refresh) if (row.record.grantId === grantId) db.refresh.delete(k);
      },
    },
  };
}

export function createProvider(db: Tables): OAuth2Provider<User> {
  return new OAuth2Provider({
    issuer: 'https://auth.example',
    grants: ['authorization_code', 'refresh_token', 'client_credentials'],
    // accessTokenLifetime, refreshTokenLifetime, authorizationCodeLifetime
    lifetimes: { accessToken: 3600, refreshToken: 14 * 24 * 3600, authorizationCode: 300 },
    // validateScope: the server-wide list; each client's `scopes` narrows it.
    scopes: ['read', 'write'],
    stores: createStores(db),
  });
}
