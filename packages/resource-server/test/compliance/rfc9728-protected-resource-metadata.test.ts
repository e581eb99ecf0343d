/**
 * RFC 9728 (OAuth 2.0 Protected Resource Metadata): the document `protectedResourceHandler` and
 * `protectedResourceFetchHandler` serve, where they serve it, and the `resource_metadata`
 * parameter of the verifier's challenges.
 *
 * RFC 9728 section 1.2, Resource Identifier: "The protected resource's resource identifier, which
 *   is a URL that uses the https scheme and has no fragment component. As specified in Section 2
 *   of [RFC8707], it also SHOULD NOT include a query component".
 * RFC 9728 section 2, resource: "REQUIRED. The protected resource's resource identifier, as
 *   defined in Section 1.2."
 * RFC 9728 section 2, authorization_servers: "OPTIONAL. JSON array containing a list of OAuth
 *   authorization server issuer identifiers, as defined in [RFC8414], for authorization servers
 *   that can be used with this protected resource."
 * RFC 9728 section 2, scopes_supported: "RECOMMENDED. JSON array containing a list of scope values,
 *   as defined in OAuth 2.0 [RFC6749], that are used in authorization requests to request access
 *   to this protected resource."
 * RFC 9728 section 2, bearer_methods_supported: "OPTIONAL. JSON array containing a list of the
 *   supported methods of sending an OAuth 2.0 bearer token [RFC6750] to the protected resource.
 *   Defined values are ["header", "body", "query"], corresponding to Sections 2.1, 2.2, and 2.3 of
 *   [RFC6750]."
 * RFC 9728 section 2, resource_name: "Human-readable name of the protected resource intended for
 *   display to the end user."
 * RFC 9728 section 3: "Protected resources supporting metadata MUST make a JSON document containing
 *   metadata as specified in Section 2 available at a URL formed by inserting a well-known URI
 *   string into the protected resource's resource identifier between the host component and the
 *   path and/or query components, if any. By default, the well-known URI string used is
 *   /.well-known/oauth-protected-resource."
 * RFC 9728 section 3.1: "If the resource identifier value contains a path or query component, any
 *   terminating slash (/) following the host component MUST be removed before inserting
 *   /.well-known/ and the well-known URI path suffix between the host component and the path
 *   and/or query components." Its example: for https://resource.example.com/resource1,
 *   "GET /.well-known/oauth-protected-resource/resource1 HTTP/1.1".
 * RFC 9728 section 3.2: "A successful response MUST use the 200 OK HTTP status code and return a
 *   JSON object using the application/json content type ..." "Parameters with multiple values are
 *   represented as JSON arrays. Parameters with zero values MUST be omitted from the response."
 * RFC 9728 section 3.3: "The resource value returned MUST be identical to the protected resource's
 *   resource identifier value into which the well-known URI path suffix was inserted to create the
 *   URL used to retrieve the metadata. If these values are not identical, the data contained in
 *   the response MUST NOT be used."
 * RFC 9728 section 5.1: "This specification introduces a new parameter in the WWW-Authenticate
 *   HTTP response header field to indicate the protected resource metadata URL:
 *   resource_metadata: The URL of the protected resource metadata." Its example:
 *   "WWW-Authenticate: Bearer resource_metadata=
 *   "https://resource.example.com/.well-known/oauth-protected-resource"".
 *
 * A resource whose path ends in a slash is also served without that slash: clients that strip it
 * (the MCP SDKs do) still find the document. The advertised URL is the RFC's form.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  createVerifier,
  protectedResourceFetchHandler,
  protectedResourceHandler,
  protectedResourceMetadata,
  protectedResourceMetadataPath,
  protectedResourceMetadataUrl,
  requireOAuth,
  requireOAuthFetch,
} from '../../src/index.js';
import { listen } from '../servers.js';

const AS = 'https://auth.example';
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers) await c();
});

/** Serves `protectedResourceHandler` for `resource` on 127.0.0.1; 404 for what it does not serve. */
async function serve(resource: string, extra: Partial<Parameters<typeof protectedResourceHandler>[0]> = {}) {
  const l = await listen();
  closers.push(l.close);
  const handler = protectedResourceHandler({ resource, authorizationServers: [AS], scopesSupported: ['read'], ...extra });
  l.use((req, res) => handler(req, res));
  return l.url;
}

describe('RFC 9728 section 2: the document', () => {
  it('names the resource, its authorization servers, scopes, bearer methods and name; unknown values are left out', () => {
    expect(
      protectedResourceMetadata({
        resource: 'https://api.example/v1',
        authorizationServers: [AS, 'https://auth2.example'],
        scopesSupported: ['read', 'write'],
        resourceName: 'Example API',
        resourceDocumentation: 'https://api.example/docs',
      }),
    ).toEqual({
      resource: 'https://api.example/v1',
      authorization_servers: [AS, 'https://auth2.example'],
      bearer_methods_supported: ['header'],
      scopes_supported: ['read', 'write'],
      resource_name: 'Example API',
      resource_documentation: 'https://api.example/docs',
    });
    expect(protectedResourceMetadata({ resource: 'https://api.example', authorizationServers: [AS] })).toEqual({
      resource: 'https://api.example',
      authorization_servers: [AS],
      bearer_methods_supported: ['header'],
    });
  });

  it('section 3.2: a list with zero values is omitted, never sent as []', () => {
    const doc = protectedResourceMetadata({ resource: 'https://api.example', authorizationServers: [], scopesSupported: [] });
    expect(doc).toEqual({ resource: 'https://api.example', bearer_methods_supported: ['header'] });
  });

  it('section 1.2: a resource that is not https, is relative, or has a fragment is refused when the handler is made', () => {
    for (const resource of ['http://api.example', 'api.example/v1', 'https://api.example/#frag', 'ftp://api.example', 'not a url']) {
      expect(() => protectedResourceHandler({ resource, authorizationServers: [AS] }), resource).toThrow(TypeError);
      expect(() => protectedResourceFetchHandler({ resource, authorizationServers: [AS] }), resource).toThrow(TypeError);
    }
    // http on loopback, for development and tests.
    for (const resource of ['http://127.0.0.1:8080', 'http://localhost:3000/api', 'http://[::1]:9000']) {
      expect(() => protectedResourceHandler({ resource, authorizationServers: [AS] }), resource).not.toThrow();
    }
  });
});

describe('RFC 9728 section 3 and 3.1: where the document is served', () => {
  it('the well-known string goes between host and path; the slash that only ends the host is removed', () => {
    expect(protectedResourceMetadataPath('https://resource.example.com')).toBe('/.well-known/oauth-protected-resource');
    expect(protectedResourceMetadataPath('https://resource.example.com/')).toBe('/.well-known/oauth-protected-resource');
    expect(protectedResourceMetadataPath('https://resource.example.com/resource1')).toBe('/.well-known/oauth-protected-resource/resource1');
    expect(protectedResourceMetadataPath('https://resource.example.com/a/b/')).toBe('/.well-known/oauth-protected-resource/a/b/');
    expect(protectedResourceMetadataUrl('https://resource.example.com/resource1')).toBe(
      'https://resource.example.com/.well-known/oauth-protected-resource/resource1',
    );
    expect(protectedResourceMetadataUrl('https://resource.example.com/?tenant=1')).toBe(
      'https://resource.example.com/.well-known/oauth-protected-resource?tenant=1',
    );
  });

  it('section 3.2: GET at that path answers 200 application/json; HEAD too; other paths and methods are not served', async () => {
    const url = await serve('http://127.0.0.1/resource1');
    const r = await fetch(`${url}/.well-known/oauth-protected-resource/resource1`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(await r.json()).toEqual({
      resource: 'http://127.0.0.1/resource1',
      authorization_servers: [AS],
      bearer_methods_supported: ['header'],
      scopes_supported: ['read'],
    });
    expect((await fetch(`${url}/.well-known/oauth-protected-resource/resource1`, { method: 'HEAD' })).status).toBe(200);
    // Appending the well-known string (instead of inserting it) is not the RFC's URL.
    expect((await fetch(`${url}/resource1/.well-known/oauth-protected-resource`)).status).toBe(404);
    expect((await fetch(`${url}/.well-known/oauth-protected-resource`)).status).toBe(404);
    expect((await fetch(`${url}/.well-known/oauth-protected-resource/resource1`, { method: 'POST' })).status).toBe(404);
  });

  it('a resource whose path ends in a slash is served at the RFC path and at the path without that slash', async () => {
    const url = await serve('http://127.0.0.1/mcp/');
    for (const path of ['/.well-known/oauth-protected-resource/mcp/', '/.well-known/oauth-protected-resource/mcp']) {
      const r = await fetch(url + path);
      expect(r.status, path).toBe(200);
      expect(((await r.json()) as { resource: string }).resource).toBe('http://127.0.0.1/mcp/');
    }
    const fetchHandler = protectedResourceFetchHandler({ resource: 'https://api.example/mcp/', authorizationServers: [AS] });
    expect(fetchHandler(new Request('https://api.example/.well-known/oauth-protected-resource/mcp/'))?.status).toBe(200);
    expect(fetchHandler(new Request('https://api.example/.well-known/oauth-protected-resource/mcp'))?.status).toBe(200);
    expect(fetchHandler(new Request('https://api.example/.well-known/oauth-protected-resource'))).toBeNull();
  });
});

describe('RFC 9728 section 3.3: the resource value matches the URL the document came from', () => {
  it('for each resource form, the document fetched at its advertised URL names exactly that resource', async () => {
    for (const resource of ['https://api.example', 'https://api.example/', 'https://api.example/v1', 'https://api.example/t/42/']) {
      const handler = protectedResourceFetchHandler({ resource, authorizationServers: [AS] });
      const r = handler(new Request(protectedResourceMetadataUrl(resource)));
      expect(r?.status, resource).toBe(200);
      expect(((await r!.json()) as { resource: string }).resource, resource).toBe(resource);
    }
  });
});

describe('RFC 9728 section 5.1: resource_metadata in WWW-Authenticate', () => {
  const resourceMetadata = protectedResourceMetadataUrl('https://resource.example.com');
  const verifier = createVerifier({
    issuer: AS,
    audience: 'https://resource.example.com',
    jwksUri: 'http://127.0.0.1:1/jwks',
    resourceMetadata,
  });

  it('a request without a token gets 401 with Bearer resource_metadata="<the document URL>"', async () => {
    const r = await requireOAuthFetch(verifier)(new Request('https://resource.example.com/x'));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.response.status).toBe(401);
    expect(r.response.headers.get('www-authenticate')).toBe(
      'Bearer realm="api", resource_metadata="https://resource.example.com/.well-known/oauth-protected-resource"',
    );
  });

  it('an invalid token gets invalid_token with resource_metadata too, through the node:http adapter', async () => {
    const l = await listen();
    closers.push(l.close);
    const check = requireOAuth(verifier, 'read');
    l.use((req, res) => void check(req, res, () => res.writeHead(200).end()));
    const r = await fetch(`${l.url}/x`, { headers: { authorization: 'Bearer a.b.c' } });
    expect(r.status).toBe(401);
    const challenge = r.headers.get('www-authenticate')!;
    expect(challenge).toMatch(/^Bearer realm="api", error="invalid_token", error_description="[\x20\x21\x23-\x5b\x5d-\x7e]*"/);
    expect(challenge).toContain(', resource_metadata="https://resource.example.com/.well-known/oauth-protected-resource"');
  });

  it('the verifier refuses a resource_metadata that is not an http(s) URL, and nothing unsafe reaches the header', async () => {
    for (const bad of ['javascript:alert(1)', 'not a url', 'file:///etc/passwd']) {
      expect(() => createVerifier({ issuer: AS, audience: 'https://resource.example.com', resourceMetadata: bad }), bad).toThrow();
    }
    // CR, LF and a quote inside a URL: the header stays one line of the RFC 6750 quoted-string set.
    const hostile = createVerifier({
      issuer: AS,
      audience: 'https://resource.example.com',
      resourceMetadata: 'https://x.example/"\r\nSet-Cookie: a=b',
    });
    const r = await requireOAuthFetch(hostile)(new Request('https://resource.example.com/x'));
    if (r.ok) throw new Error('expected a challenge');
    const value = r.response.headers.get('www-authenticate')!;
    expect(value).not.toMatch(/[\r\n]/);
    expect(value.match(/resource_metadata="([^"]*)"/)?.[1]).toMatch(/^[\x20\x21\x23-\x5b\x5d-\x7e]*$/);
    expect(value).toMatch(/resource_metadata="[^"]*"$/);
  });
});
