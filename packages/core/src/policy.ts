/** What a client may do: grant types it may use and the scopes it may be given. */
import type { Client, GrantType, User } from './contract.js';
import type { Engine } from './engine.js';
import { InvalidScopeError, type OAuthError } from './errors.js';
import { splitScope } from './params.js';

/**
 * The scopes to grant: the requested ones (each allowed for the client and known to the server),
 * or the client's defaults when none are requested.
 */
export function resolveScopes<U extends User, C extends Client>(
  e: Engine<U, C>,
  client: C,
  scopeParam: string | undefined,
): string[] | OAuthError {
  const requested = splitScope(scopeParam);
  if (requested === null) return new InvalidScopeError('The scope parameter is malformed');
  if (requested.length === 0) return [...(client.defaultScopes ?? [])];
  const known = e.o.scopes;
  for (const s of requested) {
    if (!client.scopes.includes(s) || (known && !known.has(s))) {
      return new InvalidScopeError(`Scope '${s}' is not allowed for this client`);
    }
  }
  return requested;
}

/** `true` when the client may use the grant type (and the server has it enabled). */
export function allows<U extends User, C extends Client>(e: Engine<U, C>, client: Client, grant: GrantType): boolean {
  return e.o.grants.has(grant) && client.grantTypes.includes(grant);
}
