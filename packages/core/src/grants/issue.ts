/** Issuing tokens: minting, saving their digests, and the token response body. */
import type { AccessTokenRecord, Client, GrantType, RefreshTokenRecord, User } from '../contract.js';
import { digestToken, randomToken } from '../crypto.js';
import type { Engine } from '../engine.js';
import { ConfigurationError } from '../errors.js';
import { accessTokenSettings } from '../resources.js';

import type { Writable } from '../writable.js';

export interface IssueInput {
  clientId: string;
  userId: string | null;
  scopes: readonly string[];
  /** Scopes of the new refresh token, when they differ from the access token's (a narrowed refresh). */
  refreshScopes?: readonly string[];
  grantId: string;
  grantType: GrantType;
  withRefresh: boolean;
  /**
   * The resources (RFC 8707) the access token is for: its audience (`aud`), which also sets its
   * lifetime and format (see `accessTokenSettings`). Empty or unset: none named.
   */
  audience?: readonly string[];
  /** Resources bound to the new refresh token (the full original grant, RFC 8707 section 2.2). */
  refreshResources?: readonly string[];
  /** The DPoP key the access token is bound to (RFC 9449): `token_type: DPoP`, `cnf.jkt`. */
  dpopJkt?: string | null;
  /** The DPoP key the new refresh token is bound to (public clients, RFC 9449 section 5). */
  refreshDpopJkt?: string | null;
  /**
   * When the user authenticated for this grant: `auth_time` in a JWT access token (RFC 9068
   * section 2.2.1), and kept on the new refresh token. Unset: not known.
   */
  authTime?: Date;
}

/** The token response body (RFC 6749 section 5.1). */
export interface TokenResponseBody {
  access_token: string;
  /** `DPoP` when the access token is bound to a DPoP key (RFC 9449 section 5). */
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  /** Space-delimited granted scopes; left out when no scope was granted. */
  scope?: string;
  refresh_token?: string;
}

/**
 * Client ids this process has marked used, per registration store: a mark is written at most once
 * per client per process even while a cached client record still lacks `firstUsedAt`. Bounded:
 * when full it starts over, which costs at most one more (idempotent) write per client.
 */
const marked = new WeakMap<object, Set<string>>();
const MAX_MARKED = 10_000;

/**
 * Records the first use of a self-registered client (`ClientRegistrationStore.markClientUsed`),
 * so that the purge of never-used registrations keeps it. Nothing is called for a client without
 * `registration` (statically configured, or from a metadata document), for one whose record
 * already carries `firstUsedAt`, for one this process marked already, or when the store has no
 * `markClientUsed`. A failed write fails the token request, as a failed `saveTokens` would: a
 * client must not get a token the purge does not know about.
 */
async function markFirstUse<U extends User, C extends Client>(e: Engine<U, C>, client: Client): Promise<void> {
  const reg = client.registration;
  if (reg === undefined || reg.firstUsedAt !== undefined) return;
  const store = e.s.registrations;
  if (store?.markClientUsed === undefined) return;
  let seen = marked.get(store);
  if (seen?.has(client.id)) return;
  await store.markClientUsed(client.id, new Date());
  if (seen === undefined) {
    seen = new Set();
    marked.set(store, seen);
  }
  if (seen.size >= MAX_MARKED) seen.clear();
  seen.add(client.id);
}

/**
 * Mints an access token (and a refresh token when asked), saves their digests, returns the body.
 * `client` is the client the tokens are issued to: a self-registered one is marked used first.
 */
export async function issueTokens<U extends User, C extends Client>(
  e: Engine<U, C>,
  input: IssueInput,
  client: Client,
): Promise<TokenResponseBody> {
  if (client.registration !== undefined && client.registration.firstUsedAt === undefined) await markFirstUse(e, client);
  const o = e.o;
  const now = Date.now();
  const audience = input.audience ?? [];
  const { lifetime, format } = accessTokenSettings(e, audience);
  const expiresAt = now + lifetime * 1000;
  const access =
    format === 'jwt' && e.keys
      ? await jwtAccessToken(e, input, audience, now, expiresAt)
      : o.accessTokenGenerator
        ? o.accessTokenGenerator(input)
        : randomToken();
  const refresh = input.withRefresh ? (o.refreshTokenGenerator ? o.refreshTokenGenerator(input) : randomToken()) : null;
  // Optional fields are left out when unset (not set to `undefined`), and no object is spread:
  // this runs on every token request.
  const accessRecord: Writable<AccessTokenRecord> = {
    token: digestToken(access),
    clientId: input.clientId,
    userId: input.userId,
    scopes: input.scopes,
    expiresAt: new Date(expiresAt),
    grantId: input.grantId,
    issuedAt: new Date(now),
  };
  if (audience.length > 0) accessRecord.audience = [...audience];
  if (input.dpopJkt) accessRecord.dpopJkt = input.dpopJkt;
  let refreshRecord: Writable<RefreshTokenRecord> | null = null;
  if (refresh !== null) {
    refreshRecord = {
      token: digestToken(refresh),
      clientId: input.clientId,
      userId: input.userId,
      scopes: input.refreshScopes ?? input.scopes,
      expiresAt: new Date(now + o.lifetimes.refreshToken * 1000),
      grantId: input.grantId,
      issuedAt: new Date(now),
    };
    if (input.refreshResources && input.refreshResources.length > 0) refreshRecord.resources = [...input.refreshResources];
    if (input.refreshDpopJkt) refreshRecord.dpopJkt = input.refreshDpopJkt;
    if (input.authTime !== undefined) refreshRecord.authTime = input.authTime;
  }
  await e.s.saveTokens!(accessRecord, refreshRecord);
  e.telemetry.issued(input.grantType);
  const body: TokenResponseBody = { access_token: access, token_type: input.dpopJkt ? 'DPoP' : 'Bearer', expires_in: lifetime };
  if (input.scopes.length > 0) body.scope = input.scopes.join(' ');
  if (refresh !== null) body.refresh_token = refresh;
  return body;
}

/**
 * The DPoP key a new refresh token is bound to: a public client's proof key (RFC 9449 section 5:
 * "Refresh tokens issued to public clients are bound to the DPoP key"); confidential clients'
 * refresh tokens are bound to their client authentication instead.
 */
export function refreshBinding(client: Client, jkt: string | null): string | null {
  return jkt !== null && (client.secretHash === null || client.secretHash === undefined) ? jkt : null;
}

/** A new family id. */
export function newGrantId(): string {
  return randomToken(16);
}

/**
 * An RFC 9068 access token (`typ: at+jwt`): `iss`, `sub` (the user, or the client for
 * client_credentials, as section 2.2 says), `aud` (the resources named, else `jwt.audience`), `exp`, `iat`, `jti`, `client_id`, `scope`,
 * and `auth_time` when the user's authentication time is known.
 */
function jwtAccessToken<U extends User, C extends Client>(
  e: Engine<U, C>,
  input: IssueInput,
  audience: readonly string[],
  issuedAt: number,
  expiresAt: number,
): Promise<string> {
  const claims: Record<string, unknown> = {
    iss: e.o.issuer,
    sub: input.userId ?? input.clientId,
    // RFC 8707 section 2: the resources named; one is a string, several an array (RFC 7519 4.1.3).
    aud: audience.length === 0 ? e.o.jwt!.audience : audience.length === 1 ? audience[0] : [...audience],
    jti: randomToken(16),
    client_id: input.clientId,
  };
  if (input.scopes.length > 0) claims.scope = input.scopes.join(' ');
  // RFC 9068 section 2.2.1: seconds since the epoch, as `iat` and `exp` are.
  if (input.authTime !== undefined) claims.auth_time = Math.floor(input.authTime.getTime() / 1000);
  // RFC 9449 section 6.1: the confirmation claim names the key's thumbprint.
  if (input.dpopJkt) claims.cnf = { jkt: input.dpopJkt };
  return e.keys!.sign(claims, issuedAt, expiresAt);
}

/** How far ahead of this process's clock an `authTime` may be (another server's clock). */
const AUTH_TIME_SKEW_MS = 60_000;

/**
 * The `authTime` an application passed to `completeAuthorization` or `completeDeviceAuthorization`,
 * checked: unset stays unset; a valid `Date` no more than a minute ahead of this clock is kept.
 * @throws ConfigurationError for anything else (not a `Date`, an invalid one, one in the future).
 */
export function checkedAuthTime(value: unknown, caller: string): Date | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new ConfigurationError(`Portcullis: ${caller} was given an authTime that is not a valid Date`);
  }
  if (value.getTime() > Date.now() + AUTH_TIME_SKEW_MS) {
    throw new ConfigurationError(`Portcullis: ${caller} was given an authTime in the future: pass when the user authenticated`);
  }
  return new Date(value.getTime());
}
