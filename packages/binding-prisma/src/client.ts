/**
 * What the stores need from a Prisma client: the four Portcullis models of
 * `prisma/schema.prisma` (as delegates `portcullisClient`, `portcullisUser`, `portcullisGrant`,
 * `portcullisToken`) and raw statements for migrations. A `PrismaClient` generated from a schema
 * that holds those models fits as it is; nothing here imports a generated client.
 */
import { isStoreUnavailable, StoreUnavailableError } from '@portcullis/core';

/** A row of `portcullis_clients`. Lists are JSON text. Extra columns of your model come back on the client. */
export interface ClientRow {
  id: string;
  secretHash: string | null;
  redirectUris: string;
  grantTypes: string;
  scopes: string;
  defaultScopes: string | null;
  tokenEndpointAuthMethod: string | null;
  resourceServer: boolean | null;
  resources: string | null;
}

/** A row of `portcullis_users`. Extra columns of your model come back on the user. */
export interface UserRow {
  id: string;
  username: string;
  passwordHash: string;
}

/** A row of `portcullis_grants`: one authorization code, keyed by (`codeHash`, `clientId`). */
export interface GrantRow {
  codeHash: string;
  clientId: string;
  userId: string;
  redirectUri: string | null;
  scopes: string;
  expiresAt: Date;
  grantId: string;
  codeChallenge: string | null;
  codeChallengeMethod: string | null;
  resources: string | null;
  dpopJkt: string | null;
  consumedAt: Date | null;
  /** When the user authenticated (RFC 9068 `auth_time`); `null` for codes saved without it. */
  authTime: Date | null;
}

/** A row of `portcullis_tokens`: one access or refresh token, keyed by (`tokenHash`, `kind`). */
export interface TokenRow {
  tokenHash: string;
  kind: string;
  clientId: string;
  userId: string | null;
  scopes: string;
  expiresAt: Date;
  grantId: string;
  audience: string | null;
  resources: string | null;
  dpopJkt: string | null;
  consumedAt: Date | null;
  revokedAt: Date | null;
  /** When core issued the token; `null` for tokens saved without it. */
  issuedAt: Date | null;
  /** A refresh token's RFC 9068 `auth_time`; `null` on access tokens and refresh tokens saved without it. */
  authTime: Date | null;
}

/** The grant key of the composite id (`@@id([codeHash, clientId])`). */
export interface GrantKey {
  codeHash_clientId: { codeHash: string; clientId: string };
}

/** The token key of the composite id (`@@id([tokenHash, kind])`). */
export interface TokenKey {
  tokenHash_kind: { tokenHash: string; kind: string };
}

/** The `portcullisClient` delegate, as far as the client store uses it. */
export interface ClientDelegate {
  findUnique(args: { where: { id: string } }): PromiseLike<ClientRow | null>;
}

/** The `portcullisUser` delegate, as far as the user store uses it. */
export interface UserDelegate {
  findUnique(args: { where: { username: string } }): PromiseLike<UserRow | null>;
}

/** The `portcullisGrant` delegate, as far as the grant store uses it. */
export interface GrantDelegate {
  create(args: { data: Omit<GrantRow, 'consumedAt'> }): PromiseLike<unknown>;
  findUnique(args: { where: GrantKey }): PromiseLike<GrantRow | null>;
  /** One `UPDATE ... WHERE ... RETURNING` (PostgreSQL, SQLite): the atomic consume. */
  updateManyAndReturn(args: {
    where: { codeHash: string; clientId: string; consumedAt: null; expiresAt: { gt: Date } };
    data: { consumedAt: Date };
  }): PromiseLike<GrantRow[]>;
  /**
   * Expired codes (`purgeExpired`), a user's unredeemed, unexpired codes (`revokeUserGrants`), or
   * a client's (`revokeClientGrants`).
   */
  deleteMany(args: {
    where:
      | { expiresAt: { lt: Date } }
      | { userId: string; clientId?: string; consumedAt: null; expiresAt: { gt: Date } }
      | { clientId: string; consumedAt: null; expiresAt: { gt: Date } };
  }): PromiseLike<{ count: number }>;
}

/** The live-token filter of a user's grants: unrevoked, unexpired, refresh tokens also unconsumed. */
export interface LiveTokensOfUser {
  userId: string;
  clientId?: string;
  revokedAt: null;
  expiresAt: { gt: Date };
  OR: [{ kind: 'access' }, { consumedAt: null }];
}

/** The live-token filter of a client's grants, whatever the user (or none): as `LiveTokensOfUser`. */
export interface LiveTokensOfClient {
  clientId: string;
  revokedAt: null;
  expiresAt: { gt: Date };
  OR: [{ kind: 'access' }, { consumedAt: null }];
}

/** The `portcullisToken` delegate, as far as the token store uses it. */
export interface TokenDelegate {
  createMany(args: { data: Omit<TokenRow, 'consumedAt' | 'revokedAt'>[] }): PromiseLike<{ count: number }>;
  findUnique(args: { where: TokenKey }): PromiseLike<TokenRow | null>;
  /** One `UPDATE ... WHERE ... RETURNING` (PostgreSQL, SQLite): the atomic rotation. */
  updateManyAndReturn(args: {
    where: { tokenHash: string; kind: 'refresh'; consumedAt: null; revokedAt: null; expiresAt: { gt: Date } };
    data: { consumedAt: Date };
  }): PromiseLike<TokenRow[]>;
  updateMany(args: {
    where:
      | { tokenHash: string; kind: 'access'; revokedAt: null }
      | { grantId: string; revokedAt: null }
      | { userId: string; clientId?: string; revokedAt: null }
      | { clientId: string; revokedAt: null };
    data: { revokedAt: Date };
  }): PromiseLike<{ count: number }>;
  /** A user's (or a client's) live tokens, for the user-grant views. */
  findMany(args: {
    where: LiveTokensOfUser | LiveTokensOfClient;
    select: { clientId: true; scopes: true; grantId: true; issuedAt: true };
  }): PromiseLike<Pick<TokenRow, 'clientId' | 'scopes' | 'grantId' | 'issuedAt'>[]>;
  deleteMany(args: { where: { expiresAt: { lt: Date } } }): PromiseLike<{ count: number }>;
}

/**
 * A Prisma client whose schema holds the Portcullis models (a generated `PrismaClient` with a
 * driver adapter, for example `new PrismaClient({ adapter: new PrismaPg({ connectionString }) })`).
 */
export interface PortcullisPrisma {
  portcullisClient: ClientDelegate;
  portcullisUser: UserDelegate;
  portcullisGrant: GrantDelegate;
  portcullisToken: TokenDelegate;
}

/** A Prisma client that can also run raw statements, for `migrate()`. */
export interface MigratablePrisma {
  $executeRawUnsafe(query: string): PromiseLike<number>;
}

const LOST_MESSAGE =
  /connection terminated|connection (is )?closed|client (has been )?closed|socket (has been |unexpectedly )?closed|can't reach database server|server has closed the connection|timeout (exceeded )?(when )?(trying to )?connect|ECONNREFUSED|ECONNRESET/i;

/**
 * Prisma error codes that mean the database cannot be reached: P1001 (cannot reach), P1002 (timed
 * out), P1008 (operation timed out), P1017 (server closed the connection), P2024 (no connection
 * from the pool in time).
 */
const LOST_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024']);

/** `true` when an error from Prisma or its driver adapter means the database cannot be reached right now. */
export function isConnectionLost(err: unknown): boolean {
  if (isStoreUnavailable(err)) return true;
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 6; depth++) {
    const { code, message, kind, originalCode } = e as { code?: unknown; message?: unknown; kind?: unknown; originalCode?: unknown };
    if (typeof code === 'string' && (LOST_CODES.has(code) || /^(08...|57P0[1-3]|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT)$/.test(code))) {
      return true;
    }
    if (typeof originalCode === 'string' && /^(08...|57P0[1-3])$/.test(originalCode)) return true;
    if (typeof kind === 'string' && /^(DatabaseNotReachable|ConnectionClosed|SocketTimeout|TooManyConnections)$/.test(kind)) return true;
    if (typeof message === 'string' && LOST_MESSAGE.test(message)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** Runs a store operation, turning a lost connection into `StoreUnavailableError` (core: 503). */
export async function guard<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (isConnectionLost(err)) throw new StoreUnavailableError('The SQL database cannot be reached', { cause: err });
    throw err;
  }
}
