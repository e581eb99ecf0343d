import { createHash } from 'node:crypto';
import type {
  AccessTokenRecord,
  Client,
  ClientStore,
  Consumed,
  GrantRecord,
  GrantStore,
  RefreshTokenRecord,
  StoreCapabilities,
  TokenStore,
  User,
  UserCredentials,
  UserGrantStore,
  UserGrantSummary,
  UserStore,
} from '@portcullis/core';
import {
  type ClientDelegate,
  type GrantDelegate,
  type GrantRow,
  guard,
  type TokenDelegate,
  type TokenRow,
  type UserDelegate,
} from './client.js';

/**
 * The key a row is stored under in place of a code or token: SHA-256 hex of its UTF-8 bytes, so
 * empty and 8 KiB keys fit the same `CHAR(64)` and the value the store was handed is never at rest.
 */
export function keyHash(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Both stores keep a consumed marker until the record expires; times are kept to the millisecond. */
const CAPABILITIES: StoreCapabilities = { detectsReplay: true, ttlGranularity: 'ms' };

/** Longest id looked up; longer ones are never found (and refused on save). */
const MAX_ID = 255;

/** `true` when a looked-up string can be in a column at all: no NUL (PostgreSQL text cannot hold it), at most `max` characters. */
function fits(value: string, max = MAX_ID): boolean {
  if (value.includes('\u0000')) return false;
  return [...value].length <= max;
}

/** Throws a clear error (naming the field, never the value) when a value cannot be stored. */
function requireFits(value: string | null | undefined, what: string, max = MAX_ID): void {
  if (value !== null && value !== undefined && !fits(value, max)) {
    throw new RangeError(`${what} is longer than ${max} characters or contains a NUL character`);
  }
}

function toArray(value: string): string[] {
  const parsed: unknown = JSON.parse(value);
  return Array.isArray(parsed) ? parsed.map(String) : [];
}

const listText = (value: readonly string[] | undefined): string | null => (value === undefined ? null : JSON.stringify(value));

/** The DPoP key thumbprint (RFC 9449) of a record, or `null`; read structurally since the field is optional. */
function dpopOf(record: object): string | null {
  const jkt = (record as { dpopJkt?: unknown }).dpopJkt;
  if (jkt === undefined || jkt === null) return null;
  requireFits(String(jkt), 'dpopJkt');
  return String(jkt);
}

/** The record with each optional field that has a value; fields without one stay absent (not `undefined`). */
function withOptional<T extends object>(record: T, optional: Record<string, unknown>): T {
  const out: Record<string, unknown> = { ...(record as Record<string, unknown>) };
  for (const [key, value] of Object.entries(optional)) if (value !== undefined && value !== null) out[key] = value;
  return out as T;
}

const copy = (date: Date): Date => new Date(date.getTime());

/**
 * When the user authenticated (RFC 9068 `auth_time`), a copy, or `null` when the record has none.
 * Read structurally: the field is optional in the contract.
 */
function authTimeOf(record: object): Date | null {
  const at = (record as { authTime?: unknown }).authTime;
  return at instanceof Date ? copy(at) : null;
}

// ---------------------------------------------------------------------------------------------
// Clients and users

const CLIENT_OWN = new Set([
  'id',
  'secretHash',
  'redirectUris',
  'grantTypes',
  'scopes',
  'defaultScopes',
  'tokenEndpointAuthMethod',
  'resourceServer',
  'resources',
]);

/**
 * A `ClientStore` over the `portcullisClient` model. Other fields of your model come back on the
 * client as Prisma returns them; `defaultScopes`, `tokenEndpointAuthMethod` and `resources` are
 * left out when NULL, and `resourceServer` comes back only when true.
 */
export function createClientStore<C extends Client = Client>(clients: ClientDelegate): ClientStore<C> {
  return {
    getClient: (clientId) =>
      guard(async () => {
        if (!fits(clientId)) return null;
        const row = await clients.findUnique({ where: { id: clientId } });
        if (!row || row.id !== clientId) return null;
        const client: Record<string, unknown> = {};
        for (const [key, value] of Object.entries(row)) if (!CLIENT_OWN.has(key)) client[key] = value;
        Object.assign(client, {
          id: row.id,
          secretHash: row.secretHash,
          redirectUris: toArray(row.redirectUris),
          grantTypes: toArray(row.grantTypes),
          scopes: toArray(row.scopes),
        });
        if (row.defaultScopes !== null) client.defaultScopes = toArray(row.defaultScopes);
        if (row.tokenEndpointAuthMethod !== null) client.tokenEndpointAuthMethod = row.tokenEndpointAuthMethod;
        if (row.resourceServer === true) client.resourceServer = true;
        if (row.resources !== null) client.resources = toArray(row.resources);
        return client as unknown as C;
      }),
  };
}

/** A `UserStore` over the `portcullisUser` model (`username` unique). The user carries every field but `passwordHash`. */
export function createUserStore<U extends User = User>(users: UserDelegate): UserStore<U> {
  return {
    getUserByUsername: (username) =>
      guard(async (): Promise<UserCredentials<U> | null> => {
        if (!fits(username)) return null;
        const row = await users.findUnique({ where: { username } });
        if (!row || row.username !== username) return null;
        const { passwordHash, ...user } = row;
        return { user: user as unknown as U, passwordHash };
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Grants

function grantRecord(row: GrantRow, code: string): GrantRecord {
  const record: GrantRecord = {
    code,
    clientId: row.clientId,
    userId: row.userId,
    redirectUri: row.redirectUri,
    scopes: toArray(row.scopes),
    expiresAt: copy(row.expiresAt),
    grantId: row.grantId,
    codeChallenge: row.codeChallenge,
    codeChallengeMethod: row.codeChallengeMethod as GrantRecord['codeChallengeMethod'],
  };
  return withOptional(record, {
    resources: row.resources === null ? undefined : toArray(row.resources),
    dpopJkt: row.dpopJkt,
    authTime: row.authTime ? copy(row.authTime) : undefined,
  });
}

/**
 * A `GrantStore` over the `portcullisGrant` model. Consuming is one `updateManyAndReturn`:
 * `UPDATE ... SET consumed_at = now WHERE code_hash = ? AND client_id = ? AND consumed_at IS NULL
 * AND expires_at > now RETURNING ...`, so the one caller that gets a row back wins. The row stays
 * as a consumed marker until it expires, so a replay answers `replayed`.
 */
export function createGrantStore(grants: GrantDelegate): GrantStore {
  return {
    detectsReplay: CAPABILITIES.detectsReplay,
    capabilities: CAPABILITIES,
    saveGrant: (grant) =>
      guard(async () => {
        requireFits(grant.clientId, 'saveGrant: clientId');
        requireFits(grant.userId, 'saveGrant: userId');
        requireFits(grant.grantId, 'saveGrant: grantId');
        requireFits(grant.codeChallenge, 'saveGrant: codeChallenge');
        requireFits(grant.codeChallengeMethod, 'saveGrant: codeChallengeMethod');
        requireFits(grant.redirectUri, 'saveGrant: redirectUri', Number.POSITIVE_INFINITY);
        await grants.create({
          data: {
            codeHash: keyHash(grant.code),
            clientId: grant.clientId,
            userId: grant.userId,
            redirectUri: grant.redirectUri,
            scopes: JSON.stringify(grant.scopes),
            expiresAt: copy(grant.expiresAt),
            grantId: grant.grantId,
            codeChallenge: grant.codeChallenge,
            codeChallengeMethod: grant.codeChallengeMethod,
            resources: listText(grant.resources),
            dpopJkt: dpopOf(grant),
            authTime: authTimeOf(grant),
          },
        });
      }),
    consumeGrant: (clientId, code) =>
      guard(async (): Promise<Consumed<GrantRecord> | null> => {
        if (!fits(clientId)) return null;
        const codeHash = keyHash(code);
        const now = new Date();
        // The atomic step: of N concurrent callers, exactly one changes the row and gets it back.
        const [won] = await grants.updateManyAndReturn({
          where: { codeHash, clientId, consumedAt: null, expiresAt: { gt: now } },
          data: { consumedAt: now },
        });
        if (won) return { outcome: 'consumed', record: grantRecord(won, code) };
        // Lost, or nothing to take: a live consumed row is a replay; anything else is not found.
        const row = await grants.findUnique({ where: { codeHash_clientId: { codeHash, clientId } } });
        if (!row || row.clientId !== clientId || row.consumedAt === null || row.expiresAt.getTime() <= Date.now()) return null;
        return { outcome: 'replayed', grantId: row.grantId };
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Tokens

type Kind = 'access' | 'refresh';

function tokenRow(kind: Kind, t: AccessTokenRecord | RefreshTokenRecord): Omit<TokenRow, 'consumedAt' | 'revokedAt'> {
  requireFits(t.clientId, `saveTokens: ${kind} clientId`);
  requireFits(t.userId, `saveTokens: ${kind} userId`);
  requireFits(t.grantId, `saveTokens: ${kind} grantId`);
  return {
    tokenHash: keyHash(t.token),
    kind,
    clientId: t.clientId,
    userId: t.userId,
    scopes: JSON.stringify(t.scopes),
    expiresAt: copy(t.expiresAt),
    grantId: t.grantId,
    audience: kind === 'access' ? listText((t as AccessTokenRecord).audience) : null,
    resources: kind === 'refresh' ? listText((t as RefreshTokenRecord).resources) : null,
    dpopJkt: dpopOf(t),
    issuedAt: t.issuedAt ? copy(t.issuedAt) : null,
    // Refresh tokens only: an access token has no authTime in the contract.
    authTime: kind === 'refresh' ? authTimeOf(t) : null,
  };
}

function tokenRecord(kind: Kind, row: TokenRow, token: string): AccessTokenRecord & RefreshTokenRecord {
  const record = {
    token,
    clientId: row.clientId,
    userId: row.userId,
    scopes: toArray(row.scopes),
    expiresAt: copy(row.expiresAt),
    grantId: row.grantId,
  };
  const text = kind === 'access' ? row.audience : row.resources;
  const list = text === null ? undefined : toArray(text);
  const issuedAt = row.issuedAt ? copy(row.issuedAt) : undefined;
  const authTime = row.authTime ? copy(row.authTime) : undefined;
  return withOptional(
    record,
    kind === 'access' ? { audience: list, dpopJkt: row.dpopJkt, issuedAt } : { resources: list, dpopJkt: row.dpopJkt, issuedAt, authTime },
  );
}

/**
 * A `TokenStore` over the `portcullisToken` model, keyed by (`tokenHash`, `kind`). `saveTokens`
 * writes the pair with one `createMany` (one multi-row `INSERT`, never half a pair) and leaves
 * the user's other tokens alone. Rotation is the same single conditional `updateManyAndReturn`
 * as a code; revocation sets `revokedAt`.
 */
export function createTokenStore(tokens: TokenDelegate): TokenStore {
  /** The live record (not expired, revoked or consumed) or `null`. */
  const get = async (kind: Kind, token: string) => {
    const row = await tokens.findUnique({ where: { tokenHash_kind: { tokenHash: keyHash(token), kind } } });
    if (!row || row.revokedAt !== null || row.consumedAt !== null || row.expiresAt.getTime() <= Date.now()) return null;
    return tokenRecord(kind, row, token);
  };
  return {
    detectsReplay: CAPABILITIES.detectsReplay,
    capabilities: CAPABILITIES,
    saveTokens: (access, refresh) =>
      guard(async () => {
        const data = [tokenRow('access', access)];
        if (refresh) data.push(tokenRow('refresh', refresh));
        await tokens.createMany({ data });
      }),
    getAccessToken: (token) => guard(() => get('access', token)),
    getRefreshToken: (token) => guard(() => get('refresh', token)),
    consumeRefreshToken: (token) =>
      guard(async (): Promise<Consumed<RefreshTokenRecord> | null> => {
        const tokenHash = keyHash(token);
        const now = new Date();
        // The atomic step: of N concurrent callers, exactly one changes the row and gets it back.
        const [won] = await tokens.updateManyAndReturn({
          where: { tokenHash, kind: 'refresh', consumedAt: null, revokedAt: null, expiresAt: { gt: now } },
          data: { consumedAt: now },
        });
        if (won) return { outcome: 'consumed', record: tokenRecord('refresh', won, token) };
        // A rotated (consumed, not revoked) live token is a replay; anything else is not found.
        const row = await tokens.findUnique({ where: { tokenHash_kind: { tokenHash, kind: 'refresh' } } });
        if (!row || row.consumedAt === null || row.revokedAt !== null || row.expiresAt.getTime() <= Date.now()) return null;
        return { outcome: 'replayed', grantId: row.grantId };
      }),
    revokeAccessToken: (token) =>
      guard(async () => {
        await tokens.updateMany({ where: { tokenHash: keyHash(token), kind: 'access', revokedAt: null }, data: { revokedAt: new Date() } });
      }),
    revokeFamily: (grantId) =>
      guard(async () => {
        if (!fits(grantId)) return;
        await tokens.updateMany({ where: { grantId, revokedAt: null }, data: { revokedAt: new Date() } });
      }),
  };
}

/**
 * Core's `UserGrantStore` over the `portcullisToken` and `portcullisGrant` models (a user's
 * "connected apps"). `listUserGrants` finds the user's live token rows (unrevoked, unexpired,
 * refresh tokens also unconsumed) through the `(userId, clientId)` index and sums them up per
 * client, in client id order. `revokeUserGrants` sets `revokedAt` on every unrevoked token row of
 * the user (for one client or all) with one `updateMany`, then deletes the user's unredeemed,
 * unexpired codes for it with one `deleteMany`; it counts the families that had a live token and
 * the codes deleted. `revokeClientGrants` (a client deleted through RFC 7592) does the same for
 * every token row and code of one client, whatever the user (or none); no index has `clientId`
 * first, so it scans the token table (deletions are rare).
 */
export function createUserGrantStore(tokens: TokenDelegate, grants: GrantDelegate): UserGrantStore {
  const live = (userId: string, clientId: string | null, now: Date) =>
    tokens.findMany({
      where: {
        userId,
        ...(clientId === null ? {} : { clientId }),
        revokedAt: null,
        expiresAt: { gt: now },
        OR: [{ kind: 'access' }, { consumedAt: null }],
      },
      select: { clientId: true, scopes: true, grantId: true, issuedAt: true },
    });
  return {
    listUserGrants: (userId) =>
      guard(async (): Promise<readonly UserGrantSummary[]> => {
        if (!fits(userId)) return [];
        const by = new Map<string, { scopes: Set<string>; families: Set<string>; first: number | null; last: number | null }>();
        for (const row of await live(userId, null, new Date())) {
          let s = by.get(row.clientId);
          if (!s) {
            s = { scopes: new Set(), families: new Set(), first: null, last: null };
            by.set(row.clientId, s);
          }
          for (const scope of toArray(row.scopes)) s.scopes.add(scope);
          s.families.add(row.grantId);
          if (row.issuedAt) {
            const at = row.issuedAt.getTime();
            s.first = s.first === null ? at : Math.min(s.first, at);
            s.last = s.last === null ? at : Math.max(s.last, at);
          }
        }
        return [...by]
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([clientId, s]) => ({
            clientId,
            scopes: [...s.scopes],
            firstIssuedAt: s.first === null ? null : new Date(s.first),
            lastIssuedAt: s.last === null ? null : new Date(s.last),
            grants: s.families.size,
          }));
      }),
    revokeUserGrants: (userId, clientId) =>
      guard(async () => {
        if (!fits(userId) || (clientId !== null && !fits(clientId))) return 0;
        const now = new Date();
        const families = new Set((await live(userId, clientId, now)).map((r) => r.grantId)).size;
        const scope = clientId === null ? { userId } : { userId, clientId };
        await tokens.updateMany({ where: { ...scope, revokedAt: null }, data: { revokedAt: now } });
        const codes = await grants.deleteMany({ where: { ...scope, consumedAt: null, expiresAt: { gt: now } } });
        return families + codes.count;
      }),
    revokeClientGrants: (clientId) =>
      guard(async () => {
        if (!fits(clientId)) return 0;
        const now = new Date();
        const rows = await tokens.findMany({
          where: { clientId, revokedAt: null, expiresAt: { gt: now }, OR: [{ kind: 'access' }, { consumedAt: null }] },
          select: { clientId: true, scopes: true, grantId: true, issuedAt: true },
        });
        const families = new Set(rows.map((r) => r.grantId)).size;
        await tokens.updateMany({ where: { clientId, revokedAt: null }, data: { revokedAt: now } });
        const codes = await grants.deleteMany({ where: { clientId, consumedAt: null, expiresAt: { gt: now } } });
        return families + codes.count;
      }),
  };
}

/**
 * Deletes codes and tokens whose `expiresAt` is before `now`. Expired rows are never returned;
 * this only reclaims their space. Returns how many rows went.
 */
export function purgeExpiredRows(delegates: { grants: GrantDelegate; tokens: TokenDelegate }, now: Date = new Date()): Promise<number> {
  return guard(async () => {
    const where = { expiresAt: { lt: now } };
    const a = await delegates.grants.deleteMany({ where });
    const b = await delegates.tokens.deleteMany({ where });
    return a.count + b.count;
  });
}
