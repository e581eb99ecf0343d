/**
 * The example's provider and its Fetch handlers, made on first use: `next build` imports the route
 * modules, and nothing here may need the runtime environment (APP_SECRET) at build time.
 */
import { createMemoryStores, hashSecret, OAuth2Provider, requireOAuthFetch, toFetchHandler, type VerifiedToken } from '@portcullis/core';

/** The id of the example's one confidential client. */
export const CLIENT_ID = 'demo-app';

type State = {
  endpoints: (request: Request) => Promise<Response | null>;
  read: (request: Request) => Promise<{ ok: true; token: VerifiedToken } | { ok: false; response: Response }>;
};

let state: State | undefined;

/** Thrown when the server was started without a usable APP_SECRET. */
class ConfigurationError extends Error {}

function init(): State {
  const secret = process.env.APP_SECRET ?? '';
  if (secret.length < 32) throw new ConfigurationError('example-nextjs: set APP_SECRET to a secret of 32 characters or more');
  const provider = new OAuth2Provider({
    issuer: process.env.ISSUER ?? 'http://127.0.0.1:3000',
    grants: ['client_credentials'],
    stores: createMemoryStores({
      clients: [
        { id: CLIENT_ID, secretHash: hashSecret(secret), redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read', 'write'] },
      ],
    }),
  });
  return { endpoints: toFetchHandler(provider), read: requireOAuthFetch(provider, 'read') };
}

function get(): State {
  state ??= init();
  return state;
}

const SERVER_ERROR = { error: 'server_error', error_description: 'The server could not complete the request' };

/** A route handler for every method of the OAuth endpoints (token, revocation, introspection, metadata). */
export async function oauthRoute(request: Request): Promise<Response> {
  let endpoints: State['endpoints'];
  try {
    endpoints = get().endpoints;
  } catch (err) {
    console.error(err instanceof ConfigurationError ? err.message : 'example-nextjs: the provider could not be made');
    return Response.json(SERVER_ERROR, { status: 500, headers: { 'Cache-Control': 'no-store' } });
  }
  // The Fetch adapter never rejects; null is a path under /oauth that is not an endpoint.
  return (await endpoints(request)) ?? Response.json({ error: 'not_found' }, { status: 404 });
}

/**
 * Checks a request's bearer token for the `read` scope (RFC 6750): the token, or the answer to
 * send (400/401/403 with `WWW-Authenticate`, 500 when the server is not configured).
 */
export async function requireRead(request: Request): Promise<{ ok: true; token: VerifiedToken } | { ok: false; response: Response }> {
  let read: State['read'];
  try {
    read = get().read;
  } catch {
    return { ok: false, response: Response.json(SERVER_ERROR, { status: 500 }) };
  }
  return read(request);
}
