/**
 * What endpoints and grants may use: the resolved options, the store slots and the result helpers.
 * Endpoints and grants import from here (and from the leaf modules), never from `provider.ts`, so
 * core reads in one direction: provider -> endpoints -> grants -> engine.
 */
import type { ClientMetadataResolver } from './client-metadata.js';
import type { Client, User } from './contract.js';
import type { OAuthError } from './errors.js';
import type { OAuthResponse } from './http.js';
import type { KeyRing } from './keys.js';
import type { ResolvedOptions } from './options.js';
import type { Slots } from './registry.js';
import { errorResponse } from './responses.js';
import type { Telemetry } from './telemetry.js';

/** The state endpoints work with. Internal: not part of the public API. */
export interface Engine<U extends User = User, C extends Client = Client> {
  readonly o: ResolvedOptions;
  readonly s: Slots<U, C>;
  /** The signing keys, with `accessTokenFormat: 'jwt'`; `null` otherwise. */
  readonly keys: KeyRing | null;
  /** Spans and metrics (no-ops unless the application registers an OpenTelemetry SDK). */
  readonly telemetry: Telemetry;
  /** Resolves https client ids from their metadata documents; `null` when the feature is off. */
  readonly clientMetadata: ClientMetadataResolver | null;
}

/**
 * The client with this id: from its metadata document when the id is an https URL and Client ID
 * Metadata Documents are on, else from the client store. `null`: unknown (or a document refused).
 */
export function findClient<U extends User, C extends Client>(e: Engine<U, C>, clientId: string): Promise<C | null> | C | null {
  if (e.clientMetadata !== null && clientId.startsWith('https://')) return e.clientMetadata.resolve(clientId) as Promise<C | null>;
  return e.s.getClient!(clientId);
}

/** Internal result of an endpoint run, before the hooks see it. */
export interface EndpointResult {
  response: OAuthResponse;
  error: OAuthError | null;
  /** The authenticated client's id, else the claimed one. */
  clientId: string | null;
  /** The user the request acted for, when known. */
  userId: string | null;
  grantType: string | null;
  scopes: readonly string[] | null;
  /** Family of tokens issued by this request, revoked if `afterRequest` vetoes it. */
  issuedGrantId: string | null;
}

/** An `EndpointResult` for a response that carries no error. */
export function plain(response: OAuthResponse): EndpointResult {
  return { response, error: null, clientId: null, userId: null, grantType: null, scopes: null, issuedGrantId: null };
}

/** An `EndpointResult` for an error (answered as RFC 6749 5.2 JSON unless `response` says otherwise). */
export function fail(
  error: OAuthError,
  response: OAuthResponse = errorResponse(error),
  clientId: string | null = null,
  grantType: string | null = null,
): EndpointResult {
  return { response, error, clientId, userId: null, grantType, scopes: null, issuedGrantId: null };
}
