/**
 * Pushed authorization requests (RFC 9126) as kept in the ephemeral store: what the PAR endpoint
 * saves and the authorization endpoint reads (`get`, so a reload shows the request again) and
 * uses once (`take`, when the user decides).
 */
import type { EphemeralStore } from './contract.js';
import { digestToken } from './crypto.js';

/** RFC 9126 section 2.2: the `request_uri` is a URN with this prefix, then the reference. */
export const REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:';
/** The reference after the prefix: what `randomToken()` makes (43 characters of base64url). */
const REFERENCE = /^[A-Za-z0-9_-]{43}$/;

/** A pushed request as stored (JSON): the client, the validated parameters, when it was pushed. */
export interface PushedRequest {
  readonly clientId: string;
  /** The pushed parameters as a query string, without client credentials. */
  readonly query: string;
  /** Milliseconds since the epoch. */
  readonly pushedAt: number;
}

/** The store key of a `request_uri` (a digest of its reference), or `null` when it is malformed. */
export function pushedRequestKey(requestUri: string): string | null {
  if (!requestUri.startsWith(REQUEST_URI_PREFIX)) return null;
  const ref = requestUri.slice(REQUEST_URI_PREFIX.length);
  return REFERENCE.test(ref) ? `par:${digestToken(ref)}` : null;
}

export function encodePushedRequest(r: PushedRequest): string {
  return JSON.stringify({ c: r.clientId, q: r.query, t: r.pushedAt });
}

/** The record a store gave back, or `null` when it is not one core wrote. */
export function decodePushedRequest(value: string | null): PushedRequest | null {
  if (value === null) return null;
  let v: unknown;
  try {
    v = JSON.parse(value);
  } catch {
    return null;
  }
  const o = v as { c?: unknown; q?: unknown; t?: unknown } | null;
  if (typeof o !== 'object' || o === null || typeof o.c !== 'string' || typeof o.q !== 'string' || typeof o.t !== 'number') {
    return null;
  }
  return { clientId: o.c, query: o.q, pushedAt: o.t };
}

/** Reads (`use: false`) or uses up (`use: true`) a pushed request. */
export async function loadPushedRequest(store: EphemeralStore, key: string, use: boolean): Promise<PushedRequest | null> {
  return decodePushedRequest(use ? await store.take(key) : await store.get(key));
}
