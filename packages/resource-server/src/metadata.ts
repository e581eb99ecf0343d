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

/** The RFC 9728 section 2 document: `bearer_methods_supported` is `['header']`, the only method the adapters take. */
export function protectedResourceMetadata(o: ProtectedResourceOptions): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    resource: o.resource,
    authorization_servers: [...o.authorizationServers],
    bearer_methods_supported: ['header'],
  };
  if (o.scopesSupported) doc.scopes_supported = [...o.scopesSupported];
  if (o.resourceName !== undefined) doc.resource_name = o.resourceName;
  if (o.resourceDocumentation !== undefined) doc.resource_documentation = o.resourceDocumentation;
  return doc;
}

/**
 * The path the document is served at (RFC 9728 section 3.1): `/.well-known/oauth-protected-resource`,
 * followed by the resource's path when it has one.
 */
export function protectedResourceMetadataPath(resource: string): string {
  const u = new URL(resource);
  const path = u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '');
  return `/.well-known/oauth-protected-resource${path}`;
}

/** The document's full URL: what `createVerifier({ resourceMetadata })` sends in challenges. */
export function protectedResourceMetadataUrl(resource: string): string {
  return new URL(resource).origin + protectedResourceMetadataPath(resource);
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
  const path = protectedResourceMetadataPath(o.resource);
  const r = body(o);
  return (req, res, next) => {
    const url = req.originalUrl ?? req.url ?? '/';
    const q = url.indexOf('?');
    if ((req.method === 'GET' || req.method === 'HEAD') && (q < 0 ? url : url.slice(0, q)) === path) return sendNodeResponse(res, r);
    if (next) return next();
    sendNodeResponse(res, { status: 404, headers: { 'Content-Type': 'application/json' }, body: '{"error":"not_found"}' });
  };
}

/** A Fetch handler serving the document at its path; `null` for other requests. */
export function protectedResourceFetchHandler(o: ProtectedResourceOptions): (request: Request) => Response | null {
  const path = protectedResourceMetadataPath(o.resource);
  const r = body(o);
  return (request) => {
    if ((request.method !== 'GET' && request.method !== 'HEAD') || new URL(request.url).pathname !== path) return null;
    return new Response(r.body, { status: r.status, headers: r.headers });
  };
}
