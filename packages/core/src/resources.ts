/**
 * Resource indicators (RFC 8707): which `resource` values a request may name, and what they do to
 * the access token (audience, scopes, lifetime, format).
 */
import type { Client, User } from './contract.js';
import type { Engine } from './engine.js';
import { InvalidTargetError, type OAuthError } from './errors.js';
import { isAbsoluteUriWithoutFragment } from './options.js';

/** Most `resource` values one request may carry; more is `invalid_target`. */
export const MAX_RESOURCES = 10;
/** Longest `resource` value accepted, in characters; longer is `invalid_target`. */
export const MAX_RESOURCE_LENGTH = 2048;

/**
 * The resources a request names, each checked (RFC 8707 section 2): at most `MAX_RESOURCES`
 * values of at most `MAX_RESOURCE_LENGTH` characters, each an absolute URI without a fragment,
 * registered in `options.resources` and allowed for the client (`Client.resources`). Repeats are
 * kept once. The descriptions never repeat the value sent.
 */
export function checkResources<U extends User, C extends Client>(
  e: Engine<U, C>,
  client: C,
  values: readonly string[],
): string[] | OAuthError {
  if (values.length > MAX_RESOURCES) return new InvalidTargetError(`At most ${MAX_RESOURCES} resource parameters are accepted`);
  const out: string[] = [];
  for (const v of values) {
    if (v.length > MAX_RESOURCE_LENGTH) return new InvalidTargetError(`A resource is longer than ${MAX_RESOURCE_LENGTH} characters`);
    if (v.includes('#')) return new InvalidTargetError('A resource must not include a fragment');
    if (!isAbsoluteUriWithoutFragment(v)) return new InvalidTargetError('A resource must be an absolute URI');
    if (!e.o.resources.has(v)) return new InvalidTargetError('A resource is not known to this server');
    if (client.resources !== undefined && !client.resources.includes(v)) {
      return new InvalidTargetError('A resource is not allowed for this client');
    }
    if (!out.includes(v)) out.push(v);
  }
  return out;
}

/**
 * Refuses resources outside those bound to a grant or refresh token (RFC 8707 section 2.2: a subset
 * of what was originally granted, never another).
 */
export function withinGrant(bound: readonly string[] | undefined, asked: readonly string[]): OAuthError | null {
  for (const r of asked) {
    if (!bound?.includes(r)) return new InvalidTargetError('A resource was not part of the original grant');
  }
  return null;
}

/**
 * The scopes of an access token for `audience`: when every resource of it lists scopes, only the
 * granted scopes one of them lists (RFC 8707 section 2.2, downscoping); otherwise all of them.
 */
export function scopesFor<U extends User, C extends Client>(
  e: Engine<U, C>,
  audience: readonly string[],
  scopes: readonly string[],
): readonly string[] {
  if (audience.length === 0) return scopes;
  const taken = new Set<string>();
  for (const uri of audience) {
    const r = e.o.resources.get(uri);
    if (!r || r.scopes === null) return scopes;
    for (const s of r.scopes) taken.add(s);
  }
  return scopes.filter((s) => taken.has(s));
}

/**
 * Lifetime (s) and format of an access token for `audience`: the shortest lifetime any of its
 * resources sets (else `lifetimes.accessToken`); `jwt` when any of its resources takes JWTs (a JWT
 * is introspected like an opaque token, so it serves both kinds of resource server).
 */
export function accessTokenSettings<U extends User, C extends Client>(
  e: Engine<U, C>,
  audience: readonly string[],
): { lifetime: number; format: 'opaque' | 'jwt' } {
  let lifetime = e.o.lifetimes.accessToken;
  let shortest: number | null = null;
  let format: 'opaque' | 'jwt' = audience.length === 0 ? e.o.accessTokenFormat : 'opaque';
  for (const uri of audience) {
    const r = e.o.resources.get(uri);
    const life = r?.accessTokenLifetime ?? null;
    if (life !== null) shortest = shortest === null ? life : Math.min(shortest, life);
    if ((r?.accessTokenFormat ?? e.o.accessTokenFormat) === 'jwt') format = 'jwt';
  }
  if (shortest !== null) lifetime = shortest;
  return { lifetime, format };
}
