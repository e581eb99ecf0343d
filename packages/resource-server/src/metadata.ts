import type { ServerResponse } from 'node:http';
import type { NextFunction, NodeRequest } from './node.js';
import { sendNodeResponse } from './node.js';

/** Settings of the RFC 9728 protected resource metadata document. */
export interface ProtectedResourceOptions {
  /** This API's resource identifier (an https URL, or http on loopback), usually the verifier's audience. */
  resource: string;
  /** Issuer identifiers of the authorization servers whose tokens the API takes. */
  authorizationServers: readonly string[];
  /** Scopes the API understands. */
  scopesSupported?: readonly string[];
  /** Name shown to people. */
  resourceName?: string;
  /** A page documenting the API. */
  resourceDocumentation?: string;
}

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * A resource identifier as RFC 9728 section 1.2 defines it: an https URL without a fragment (http
 * is let through on loopback, for development and tests).
 * @throws TypeError for anything else, naming what is wrong.
 */
function checkResource(resource: string): URL {
  let u: URL;
  try {
    u = new URL(resource);
  } catch {
    throw new TypeError('protected resource metadata: resource must be an absolute https URL');
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOOPBACK.has(u.hostname))) {
    throw new TypeError('protected resource metadata: resource must use https (http only on loopback)');
  }
  if (resource.includes('#')) throw new TypeError('protected resource metadata: resource must not have a fragment');
  return u;
}

/**
 * The RFC 9728 section 2 document: `bearer_methods_supported` is `['header']`, the only method the
 * adapters take. Lists with no value are left out (section 3.2: "Parameters with zero values MUST
 * be omitted from the response").
 * @throws TypeError when `resource` is not an https URL (http on loopback) without a fragment.
 */
export function protectedResourceMetadata(o: ProtectedResourceOptions): Record<string, unknown> {
  checkResource(o.resource);
  const doc: Record<string, unknown> = { resource: o.resource };
  if (o.authorizationServers.length > 0) doc.authorization_servers = [...o.authorizationServers];
  doc.bearer_methods_supported = ['header'];
  if (o.scopesSupported && o.scopesSupported.length > 0) doc.scopes_supported = [...o.scopesSupported];
  if (o.resourceName !== undefined) doc.resource_name = o.resourceName;
  if (o.resourceDocumentation !== undefined) doc.resource_documentation = o.resourceDocumentation;
  return doc;
}

/**
 * The path the document is served at (RFC 9728 section 3.1): `/.well-known/oauth-protected-resource`
 * inserted between the host and the resource's path, the slash that only ends the host removed:
 * `https://api.example` and `https://api.example/` give `/.well-known/oauth-protected-resource`,
 * `https://api.example/v1/` gives `/.well-known/oauth-protected-resource/v1/`.
 */
export function protectedResourceMetadataPath(resource: string): string {
  const u = new URL(resource);
  return `/.well-known/oauth-protected-resource${u.pathname === '/' ? '' : u.pathname}`;
}

/**
 * The document's full URL (RFC 9728 section 3): the path above, then the resource's query if it
 * has one. What `createVerifier({ resourceMetadata })` sends in challenges.
 */
export function protectedResourceMetadataUrl(resource: string): string {
  const u = new URL(resource);
  return u.origin + protectedResourceMetadataPath(resource) + u.search;
}

/**
 * The paths a request for the document may have: the RFC 9728 form, and, for a resource whose
 * path ends in a slash, the same without it (clients that strip it, as the MCP SDKs do).
 */
function servedPaths(resource: string): ReadonlySet<string> {
  const path = protectedResourceMetadataPath(resource);
  const bare = path.replace(/\/+$/, '');
  return new Set(bare.length > 0 && bare !== path ? [path, bare] : [path]);
}

function body(o: ProtectedResourceOptions) {
  return {
    status: 200,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=300' },
    body: JSON.stringify(protectedResourceMetadata(o)),
  };
}

/** A `node:http`/Express middleware serving the document on GET/HEAD at its path; other requests go to `next()` (or 404). */
export function protectedResourceHandler(
  o: ProtectedResourceOptions,
): (req: NodeRequest, res: ServerResponse, next?: NextFunction) => void {
  const r = body(o);
  const paths = servedPaths(o.resource);
  return (req, res, next) => {
    const url = req.originalUrl ?? req.url ?? '/';
    const q = url.indexOf('?');
    if ((req.method === 'GET' || req.method === 'HEAD') && paths.has(q < 0 ? url : url.slice(0, q))) return sendNodeResponse(res, r);
    if (next) return next();
    sendNodeResponse(res, { status: 404, headers: { 'Content-Type': 'application/json' }, body: '{"error":"not_found"}' });
  };
}

/** A Fetch handler serving the document at its path; `null` for other requests. */
export function protectedResourceFetchHandler(o: ProtectedResourceOptions): (request: Request) => Response | null {
  const r = body(o);
  const paths = servedPaths(o.resource);
  return (request) => {
    if ((request.method !== 'GET' && request.method !== 'HEAD') || !paths.has(new URL(request.url).pathname)) return null;
    return new Response(r.body, { status: r.status, headers: r.headers });
  };
}
