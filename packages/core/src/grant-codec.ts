/**
 * The text form of a `GrantRecord` for cache-backed grant stores (Redis, memcached, anything
 * that keeps a string under a key). The store derives the key from `clientId` and `code`, so the
 * text holds the other fields only, as JSON with `expiresAt` in milliseconds since the epoch:
 * `{"userId","redirectUri","scopes","expiresAt","grantId","codeChallenge","codeChallengeMethod"}`, and
 * `"resources"` (RFC 8707) only when the authorization request named some, `"dpopJkt"` (RFC 9449)
 * only when the code is bound to a DPoP key, `"authTime"` (milliseconds since the epoch) only when
 * the application said when the user authenticated.
 * `redirectUri` is `null` when the authorization request left `redirect_uri` out; text written
 * before it could be `null` (always a string) decodes as it always did.
 */
import type { GrantRecord } from './contract.js';

/** The JSON a cache keeps for one code. */
interface StoredGrant {
  userId: string;
  redirectUri: string | null;
  scopes: string[];
  expiresAt: number;
  grantId: string;
  codeChallenge: string | null;
  codeChallengeMethod: 'S256' | 'plain' | null;
  /** RFC 8707 resources; absent when the request named none. */
  resources?: string[];
  /** RFC 9449 key thumbprint; absent when the code is not bound. */
  dpopJkt?: string;
  /** When the user authenticated, in epoch milliseconds; absent when not known. */
  authTime?: number;
}

/**
 * For cache-backed grant stores: the text to keep for a code, called from `saveGrant`. Holds
 * neither `clientId` nor `code` (they make the key). Throws a `TypeError` when `expiresAt` is
 * not a valid `Date`.
 */
export function encodeGrant(grant: GrantRecord): string {
  const expiresAt = grant.expiresAt.getTime();
  if (Number.isNaN(expiresAt)) throw new TypeError('expiresAt must be a valid Date');
  const stored: StoredGrant = {
    userId: grant.userId,
    redirectUri: grant.redirectUri,
    scopes: [...grant.scopes],
    expiresAt,
    grantId: grant.grantId,
    codeChallenge: grant.codeChallenge,
    codeChallengeMethod: grant.codeChallengeMethod,
  };
  if (grant.resources && grant.resources.length > 0) stored.resources = [...grant.resources];
  if (grant.dpopJkt !== undefined) stored.dpopJkt = grant.dpopJkt;
  if (grant.authTime !== undefined) {
    const authTime = grant.authTime.getTime();
    if (Number.isNaN(authTime)) throw new TypeError('authTime must be a valid Date');
    stored.authTime = authTime;
  }
  return JSON.stringify(stored);
}

const isString = (v: unknown): v is string => typeof v === 'string';

/**
 * For cache-backed grant stores: the record back from the text `encodeGrant` made, called from
 * `consumeGrant` with the `clientId` and `code` the entry was found under. Does not check expiry
 * (the store does, and core again).
 * @returns the record, or `null` when the text is not a well-formed grant (not JSON, a field
 *   missing or of the wrong type; `redirectUri` must be a string or `null`, never absent).
 *   Never throws.
 */
export function decodeGrant(clientId: string, code: string, text: string): GrantRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const s = value as Partial<Record<keyof StoredGrant, unknown>>;
  const { userId, redirectUri, scopes, expiresAt, grantId, codeChallenge, codeChallengeMethod, resources, dpopJkt, authTime } = s;
  if (!isString(userId) || !isString(grantId)) return null;
  // Absent is not `null`: a record that lost the field must not pass as "redirect_uri not sent".
  if (redirectUri !== null && !isString(redirectUri)) return null;
  if (!Array.isArray(scopes) || !scopes.every(isString)) return null;
  if (typeof expiresAt !== 'number' || Number.isNaN(new Date(expiresAt).getTime())) return null;
  if (codeChallenge !== null && !isString(codeChallenge)) return null;
  if (codeChallengeMethod !== null && codeChallengeMethod !== 'S256' && codeChallengeMethod !== 'plain') return null;
  // Optional (text written before resource indicators has none), but never of the wrong type.
  if (resources !== undefined && (!Array.isArray(resources) || !resources.every(isString))) return null;
  // A binding that does not decode is refused, never dropped (that would unbind the code).
  if (dpopJkt !== undefined && !isString(dpopJkt)) return null;
  if (authTime !== undefined && (typeof authTime !== 'number' || Number.isNaN(new Date(authTime).getTime()))) return null;
  return {
    code,
    clientId,
    userId,
    redirectUri,
    scopes: [...scopes],
    expiresAt: new Date(expiresAt),
    grantId,
    codeChallenge,
    codeChallengeMethod,
    ...(resources !== undefined && resources.length > 0 ? { resources: [...(resources as string[])] } : {}),
    ...(dpopJkt !== undefined ? { dpopJkt } : {}),
    ...(authTime !== undefined ? { authTime: new Date(authTime) } : {}),
  };
}
