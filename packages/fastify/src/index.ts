/**
 * `@portcullis/fastify`: the Portcullis endpoints as Fastify 5 routes, and an RFC 6750 bearer
 * check as a `preHandler`.
 */
import { validateHeaderName, validateHeaderValue } from 'node:http';
import {
  type Client,
  describeError,
  type GuardOptions,
  guardArgs,
  jsonResponse,
  type OAuth2Provider,
  type OAuthRequest,
  type OAuthResponse,
  serverErrorResponse,
  type User,
  type VerifiedToken,
} from '@portcullis/core';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified bearer token; set by `requireOAuth`'s preHandler before the route handler runs. */
    oauth?: VerifiedToken;
  }
}

/** Options of the `portcullis` plugin. */
export interface PortcullisFastifyOptions<U extends User = User, C extends Client = Client> {
  /** The provider whose endpoints are served. */
  provider: OAuth2Provider<U, C>;
  /** Largest form body read by the endpoints, in bytes. Default 64 KiB; larger bodies get 413. */
  bodyLimit?: number;
}

const FORM = 'application/x-www-form-urlencoded';
const DEFAULT_BODY_LIMIT = 65536;
/** RFC 8414's metadata path, which core serves at the host's root. */
const METADATA_PATH = '/.well-known/oauth-authorization-server';

type Logs = { options: { logger: { error(m: string, meta?: Record<string, unknown>): void } } };

function logFailure(provider: Logs, err: unknown): void {
  try {
    provider.options.logger.error('fastify: a request failed', { cause: describeError(err) });
  } catch {
    // A logger that throws must not take the answer down with it.
  }
}

/**
 * Sends an `OAuthResponse`. A header Node would refuse (app code put a control character in a
 * hook's response) is checked first and answered 500 `server_error` instead.
 */
function send(reply: FastifyReply, r: OAuthResponse): FastifyReply {
  let out = r;
  try {
    for (const [name, value] of Object.entries(r.headers)) {
      validateHeaderName(name);
      validateHeaderValue(name, value);
    }
  } catch {
    out = serverErrorResponse();
  }
  return reply.code(out.status).headers(out.headers).send(out.body);
}

/** The request for core; `url` replaces the request's path (its query string is kept). */
function toOAuthRequest(request: FastifyRequest, path?: string): OAuthRequest {
  const raw = request.url;
  const q = raw.indexOf('?');
  const url = path === undefined ? raw : q === -1 ? path : path + raw.slice(q);
  const base = { method: request.method, url, headers: request.headers, remoteAddress: request.ip };
  const b: unknown = request.body;
  if (typeof b === 'string') return { ...base, body: b };
  if (Buffer.isBuffer(b)) return { ...base, body: b.toString('utf8') };
  if (b && typeof b === 'object') return { ...base, parsedBody: b as Record<string, unknown> };
  return base;
}

/**
 * The paths `provider.handle()` answers: each endpoint path in the provider's options (so an
 * endpoint core adds is mounted too) and the metadata path, kept when `provider.handles()` says so.
 */
function endpointPaths<U extends User, C extends Client>(provider: OAuth2Provider<U, C>): string[] {
  const candidates = [...Object.values(provider.options.endpoints), METADATA_PATH];
  const paths = [...new Set(candidates)].filter((p): p is string => typeof p === 'string' && provider.handles(p));
  if (!paths.includes(provider.options.endpoints.token))
    throw new Error('@portcullis/fastify: the provider does not answer its token path');
  return paths;
}

/**
 * The route path of an endpoint inside a plugin context with `prefix`: the endpoint's full path
 * with the prefix taken off, or `null` when the path does not lie under the prefix.
 */
function routePath(path: string, prefix: string): string | null {
  if (prefix === '' || prefix === '/') return path;
  if (path === prefix) return '';
  return path.startsWith(`${prefix}/`) ? path.slice(prefix.length) : null;
}

/**
 * The Fastify plugin: serves the token, revocation, introspection and metadata endpoints (and the
 * JWKS when access tokens are JWTs) at the paths in the provider's options, which are full paths
 * from the host's root, as the metadata document advertises them.
 *
 * Register it with `fastify.register(portcullis, { provider })`. It is encapsulated: its form
 * parser and error handler apply to its own routes only. Under a `prefix`, the endpoints whose
 * paths lie under the prefix are mounted (`{ prefix: '/oauth' }` with the default `/oauth/token`
 * serves `/oauth/token`, not `/oauth/oauth/token`); the others are left out with a warning on
 * `fastify.log`, so register it without a prefix to serve the metadata document.
 *
 * Form bodies are read as raw text (core refuses repeated parameters) up to `bodyLimit`; larger
 * ones get 413, unreadable ones 400, other content types 415, each as an OAuth JSON error. Other
 * errors raised before the route handler (the app's own hooks) go on to the app's error handler.
 * The provider's failures are answered 500 `server_error`; nothing escapes.
 */
export async function portcullis<U extends User, C extends Client>(
  fastify: FastifyInstance,
  options: PortcullisFastifyOptions<U, C>,
): Promise<void> {
  const { provider } = options;
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  if (!Number.isSafeInteger(bodyLimit) || bodyLimit < 1) throw new Error('@portcullis/fastify: bodyLimit must be a positive integer');
  provider.validate();

  // This context's own form parser: the raw text, whatever the app registered further up.
  if (fastify.hasContentTypeParser(FORM)) fastify.removeContentTypeParser(FORM);
  fastify.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit }, (_req, body, done) => done(null, body));

  fastify.setErrorHandler((error: FastifyError, _request, reply) => {
    const code = typeof error.code === 'string' ? error.code : '';
    if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return send(
        reply,
        jsonResponse(413, { error: 'invalid_request', error_description: 'The request body is too large' }, { Connection: 'close' }),
      );
    }
    if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return send(reply, jsonResponse(415, { error: 'invalid_request', error_description: `The body must be ${FORM}` }));
    }
    if (code.startsWith('FST_ERR_CTP_') && error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return send(reply, jsonResponse(400, { error: 'invalid_request', error_description: 'The request body could not be read' }));
    }
    // Not a body error of ours: the app's error handler decides.
    throw error;
  });

  const prefix = fastify.prefix;
  const skipped: string[] = [];
  for (const path of endpointPaths(provider)) {
    const url = routePath(path, prefix);
    if (url === null) {
      skipped.push(path);
      continue;
    }
    fastify.route({
      method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      url,
      // HEAD is in the list, so Fastify must not add a second HEAD route of its own.
      exposeHeadRoute: false,
      handler: async (request, reply) => {
        let r: OAuthResponse | null;
        try {
          r = await provider.handle(toOAuthRequest(request, path));
        } catch (err) {
          logFailure(provider, err);
          r = serverErrorResponse();
        }
        return send(reply, r ?? jsonResponse(404, { error: 'not_found' }));
      },
    });
  }
  if (skipped.length > 0) {
    fastify.log.warn(`@portcullis/fastify: not under the prefix ${prefix}, so not served here: ${skipped.join(', ')}`);
  }
}

// Lets Fastify check the version it runs with, and name the plugin in its errors. Not wrapped
// in skip-override: the plugin keeps its own context.
Object.assign(portcullis, { [Symbol.for('plugin-meta')]: { fastify: '5.x', name: '@portcullis/fastify' } });

/**
 * A `preHandler` protecting a route (RFC 6750): a valid access token holding every listed scope,
 * given as scope names or as one `{ scopes, audience }` object (core's `GuardOptions`; RFC 8707: a
 * token issued for another resource is 401 `invalid_token`):
 * `fastify.get('/me', { preHandler: requireOAuth(provider, { scopes: ['read'], audience: 'https://api.example/' }) }, h)`.
 *
 * On success it sets `request.oauth` (with `dpopJkt` for a DPoP-bound token) and the route handler
 * runs; otherwise it answers 400/401/403 with every header core set (`WWW-Authenticate`, and
 * `DPoP-Nonce` when the provider asks for a DPoP nonce). With `dpop: { enabled: true }` on the
 * provider, `Authorization: DPoP <token>` and its `DPoP` proof (RFC 9449) are checked by core as
 * Node received them: a repeated `DPoP` header, which Node joins with `, `, is refused (401
 * `invalid_dpop_proof`). The proof's `htu` is a `dpop.resourceOrigins` origin plus the request's
 * full path (Fastify prefixes included). The route handler's own errors go to Fastify's error
 * handler as usual. A token in a form body (RFC 6750 section 2.2) is seen when the route's context
 * parses forms.
 */
export function requireOAuth<U extends User, C extends Client>(
  provider: OAuth2Provider<U, C>,
  ...args: string[] | [GuardOptions]
): preHandlerAsyncHookHandler {
  const { scopes, options } = guardArgs(args);
  provider.validate();
  return async (request, reply) => {
    try {
      const r = await provider.checkAccessToken(toOAuthRequest(request), scopes, options);
      if (!r.ok) return send(reply, r.response);
      request.oauth = r.token;
    } catch (err) {
      logFailure(provider, err);
      return send(reply, serverErrorResponse());
    }
    return undefined;
  };
}
