/**
 * The admin API, framework-neutral: `OAuthRequest` in (body already read), `OAuthResponse` out.
 * Uses core's public API only: `verifyAccessToken`, `listUserGrants`, `revokeUserGrants`,
 * `rotateSigningKey`, and the stores the application hands over.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import {
  type Client,
  ConfigurationError,
  describeError,
  generateClientSecret,
  hashSecret,
  isStoreUnavailable,
  jsonResponse,
  type OAuth2Provider,
  type OAuthRequest,
  type OAuthResponse,
  type ProviderStores,
  randomToken,
  type SigningKeyRecord,
  type User,
} from '@portcullis/core';
import { AdminError, cleanText } from './errors.js';
import { type ClientFields, clientFields, clientView, hasControl, ownMembers, requestedClientId } from './metadata.js';
import { adminOpenApi } from './openapi.js';

/** Options of `createAdminApi`, `createAdminHandler` and `createAdminFetchHandler`. */
export interface AdminOptions<U extends User = User, C extends Client = Client> {
  /** The provider whose tokens authenticate administrators, and whose grants and keys are managed. */
  readonly provider: OAuth2Provider<U, C>;
  /**
   * The stores the provider uses (`clients` to read clients; `registrations` to write and list
   * them; `keys` to show signing keys). A missing one makes its endpoints answer 501. `userGrants`
   * is optional: when it has `revokeClientGrants`, deleting a client revokes at once its access
   * tokens, refresh tokens and unredeemed codes, as core's RFC 7592 delete does; without it the
   * deleted client's access tokens keep working until they expire.
   */
  readonly stores: Pick<ProviderStores<U, C>, 'clients' | 'registrations' | 'keys' | 'userGrants'>;
  /**
   * Static operator tokens (each at least 32 characters of `A-Z a-z 0-9 - . _ ~ + /`), accepted as
   * `Authorization: Bearer <token>`, compared in constant time. Unset: only admin access tokens.
   */
  readonly operatorTokens?: readonly string[];
  /** Where the API is mounted, e.g. `/admin` (the default). Paths outside it are not handled. */
  readonly basePath?: string;
  /** Largest JSON body read, in bytes. Default and most 64 KiB; larger bodies get 413. */
  readonly bodyLimit?: number;
}

/** Who made an admin request. */
export type AdminPrincipal =
  | { readonly kind: 'operator' }
  | { readonly kind: 'client'; readonly clientId: string; readonly userId: string | null };

/** The framework-neutral admin API (what the node and Fetch handlers wrap). */
export interface AdminApi {
  /** The mount point, normalized (no trailing slash). */
  readonly basePath: string;
  /** Largest body the adapters read, in bytes. */
  readonly bodyLimit: number;
  /** Whether `path` (without query) is under the mount point. */
  handles(path: string): boolean;
  /**
   * Answers a request under the mount point (its body, if any, already read as text). Never
   * throws: failures are answered as JSON errors (500 without detail, 503 for an unavailable store).
   * @returns the response, or `null` when the path is not under the mount point.
   */
  handle(req: OAuthRequest): Promise<OAuthResponse | null>;
}

/** Default and largest JSON body, in bytes. */
export const ADMIN_BODY_LIMIT = 65536;
/** Most items on one page (`limit`). */
export const ADMIN_MAX_PAGE = 100;
const DEFAULT_PAGE = 20;
const MAX_URL = 4096;
const MAX_ID = 256;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;
const PUBLIC_JWK_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e', 'kid', 'alg', 'use'] as const;

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

type Route = {
  readonly methods: Readonly<Record<string, (ctx: Ctx) => Promise<OAuthResponse>>>;
};
type Ctx = { readonly req: OAuthRequest; readonly params: readonly string[] };

function json(status: number, body: unknown, extra?: Readonly<Record<string, string>>): OAuthResponse {
  return jsonResponse(status, body, extra);
}

function headerValue(req: OAuthRequest, name: string): string | undefined | null {
  const v = req.headers[name];
  if (Array.isArray(v)) return v.length === 1 ? (v[0] as string) : null;
  return v as string | undefined;
}

/** Cursors are opaque: the last id of the page, base64url-encoded with a version prefix. */
function encodeCursor(id: string): string {
  return Buffer.from(`v1:${id}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  const bad = new AdminError(400, 'invalid_request', 'The cursor is not valid');
  if (!/^[A-Za-z0-9_-]{1,1400}$/.test(cursor)) throw bad;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!text.startsWith('v1:') || text.length < 4 || text.length > MAX_ID + 3 || encodeCursor(text.slice(3)) !== cursor) throw bad;
  return text.slice(3);
}

/** The query of a request, refusing repeated and unknown parameters. */
function queryOf(url: string, allowed: readonly string[]): URLSearchParams {
  const i = url.indexOf('?');
  const q = new URLSearchParams(i < 0 ? '' : url.slice(i + 1));
  const seen = new Set<string>();
  for (const key of q.keys()) {
    if (seen.has(key)) throw new AdminError(400, 'invalid_request', `Repeated parameter ${allowed.includes(key) ? key : ''}`.trim());
    seen.add(key);
    if (!allowed.includes(key)) throw new AdminError(400, 'invalid_request', 'Unknown query parameter');
  }
  return q;
}

function pageOf(q: URLSearchParams): { limit: number; after: string | null } {
  const l = q.get('limit');
  let limit = DEFAULT_PAGE;
  if (l !== null) {
    if (!/^\d{1,3}$/.test(l) || Number(l) < 1 || Number(l) > ADMIN_MAX_PAGE) {
      throw new AdminError(400, 'invalid_request', `limit must be an integer from 1 to ${ADMIN_MAX_PAGE}`);
    }
    limit = Number(l);
  }
  const c = q.get('cursor');
  return { limit, after: c === null ? null : decodeCursor(c) };
}

/** A path segment, percent-decoded, length-limited, without control characters. */
function segment(raw: string): string {
  if (raw.length > MAX_ID * 3) throw new AdminError(400, 'invalid_request', 'A path segment is too long');
  let s: string;
  try {
    s = decodeURIComponent(raw);
  } catch {
    throw new AdminError(400, 'invalid_request', 'A path segment is not valid percent-encoding');
  }
  if (s.length === 0 || s.length > MAX_ID) throw new AdminError(400, 'invalid_request', 'An id must be 1 to 256 characters');
  if (hasControl(s)) throw new AdminError(400, 'invalid_request', 'An id must not hold control characters');
  return s;
}

function iso(d: Date | null | undefined): string | null {
  return d instanceof Date && !Number.isNaN(d.getTime()) ? d.toISOString() : null;
}

function keyView(k: SigningKeyRecord, now: number): Record<string, unknown> {
  const jwk: Record<string, unknown> = {};
  for (const m of PUBLIC_JWK_MEMBERS) if (typeof k.publicJwk[m] === 'string') jwk[m] = k.publicJwk[m];
  const retired = k.retiresAt !== null && k.retiresAt.getTime() <= now;
  return {
    kid: k.kid,
    alg: k.alg,
    status: retired ? 'retired' : k.activatesAt.getTime() > now ? 'next' : 'active',
    created_at: iso(k.createdAt),
    activates_at: iso(k.activatesAt),
    retires_at: iso(k.retiresAt),
    jwk,
  };
}

/**
 * The admin API for a provider, framework-neutral (see `createAdminHandler` for `node:http` and
 * `createAdminFetchHandler` for Fetch).
 * @throws ConfigurationError for an operator token under 32 characters or outside the token68
 *   characters, or a `basePath` that is not an absolute path.
 */
export function createAdminApi<U extends User, C extends Client>(options: AdminOptions<U, C>): AdminApi {
  const { provider, stores } = options;
  const basePath = (options.basePath ?? '/admin').replace(/\/+$/, '');
  if (!/^(\/[A-Za-z0-9._~-]+)*$/.test(basePath)) {
    throw new ConfigurationError('@portcullis/admin: basePath must be an absolute path of letters, digits and ._~- segments');
  }
  const bodyLimit = options.bodyLimit ?? ADMIN_BODY_LIMIT;
  if (!Number.isInteger(bodyLimit) || bodyLimit < 1 || bodyLimit > ADMIN_BODY_LIMIT) {
    throw new ConfigurationError(`@portcullis/admin: bodyLimit must be an integer from 1 to ${ADMIN_BODY_LIMIT}`);
  }
  const operatorDigests = (options.operatorTokens ?? []).map((t) => {
    if (typeof t !== 'string' || t.length < 32 || t.length > 1024 || !TOKEN68.test(t)) {
      throw new ConfigurationError('@portcullis/admin: every operator token must be 32 to 1024 characters of A-Z a-z 0-9 - . _ ~ + /');
    }
    return sha256(t);
  });
  const openApiBody = JSON.stringify({ ...adminOpenApi, servers: [{ url: basePath === '' ? '/' : basePath }] });
  const realm = cleanText(provider.options.realm);

  /** Constant time over every operator token: the digests are compared, never the tokens. */
  function isOperator(token: string): boolean {
    const d = sha256(token);
    let match = false;
    for (const o of operatorDigests) match = timingSafeEqual(d, o) || match;
    return match;
  }

  async function authenticate(req: OAuthRequest): Promise<AdminPrincipal | OAuthResponse> {
    const authorization = headerValue(req, 'authorization');
    if (authorization === null) {
      return new AdminError(400, 'invalid_request', 'Send one Authorization header', {
        'WWW-Authenticate': `Bearer realm="${realm}", error="invalid_request"`,
      }).response();
    }
    const m = authorization === undefined ? null : /^Bearer +(\S+)$/i.exec(authorization);
    if (m && operatorDigests.length > 0 && isOperator(m[1]!)) return { kind: 'operator' };
    // The token only from the header: never the query or a body.
    const headers: Record<string, string | readonly string[] | undefined> = { ...req.headers };
    const result = await provider.verifyAccessToken({ method: req.method, url: pathOnly(req.url), headers }, ['admin']);
    if (!result.ok) return result.response;
    const client = stores.clients ? await stores.clients.getClient(result.token.clientId) : null;
    if (client?.administrator !== true) {
      const description = 'The token is not from an administrator client';
      return new AdminError(403, 'insufficient_scope', description, {
        'WWW-Authenticate': `Bearer realm="${realm}", error="insufficient_scope", error_description="${description}", scope="admin"`,
      }).response();
    }
    return { kind: 'client', clientId: result.token.clientId, userId: result.token.userId };
  }

  function registrations() {
    const r = stores.registrations;
    if (!r) throw new AdminError(501, 'not_implemented', 'No client registration store was given (stores.registrations)');
    return r;
  }

  async function findClient(id: string): Promise<C> {
    if (!stores.clients) throw new AdminError(501, 'not_implemented', 'No client store was given (stores.clients)');
    const c = await stores.clients.getClient(id);
    if (!c || c.id !== id) throw new AdminError(404, 'not_found', 'No client has this id');
    return c;
  }

  function jsonBody(req: OAuthRequest): Map<string, unknown> {
    const type = headerValue(req, 'content-type');
    if (typeof type !== 'string' || !/^application\/json\s*(;\s*charset="?utf-8"?\s*)?$/i.test(type.trim())) {
      throw new AdminError(415, 'invalid_request', 'The body must be application/json');
    }
    const text = req.body ?? '';
    if (Buffer.byteLength(text, 'utf8') > bodyLimit) throw new AdminError(413, 'invalid_request', 'The request body is too large');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new AdminError(400, 'invalid_request', 'The body is not valid JSON');
    }
    return ownMembers(parsed);
  }

  /** Core's client record from validated fields, keeping what the API does not manage. */
  function record(base: Partial<C>, id: string, f: ClientFields, secretHash: string | null): C {
    const c: Record<string, unknown> = { ...base, id, secretHash };
    for (const k of [
      'defaultScopes',
      'resourceServer',
      'resources',
      'requirePushedAuthorizationRequests',
      'dpopBoundAccessTokens',
      'name',
      'uri',
      'logoUri',
    ] as const) {
      delete c[k];
      if (f[k] !== undefined) c[k] = f[k];
    }
    c.redirectUris = f.redirectUris;
    c.grantTypes = f.grantTypes;
    c.scopes = f.scopes;
    c.tokenEndpointAuthMethod = f.tokenEndpointAuthMethod;
    c.administrator = f.administrator;
    c.clientSecretExpiresAt = f.tokenEndpointAuthMethod === 'none' ? null : f.clientSecretExpiresAt;
    return c as unknown as C;
  }

  const routes: { pattern: readonly string[]; route: Route }[] = [
    {
      pattern: ['openapi.json'],
      route: { methods: { GET: async () => json(200, openApiBody, { 'Cache-Control': 'no-cache' }) } },
    },
    {
      pattern: ['clients'],
      route: {
        methods: {
          GET: async ({ req }) => {
            const { limit, after } = pageOf(queryOf(req.url, ['limit', 'cursor']));
            const r = registrations();
            if (!r.listClients) throw new AdminError(501, 'not_implemented', 'The client store cannot list clients (listClients)');
            const page = await r.listClients(after, limit);
            const clients = page.clients.slice(0, limit).map(clientView);
            return json(200, { clients, next_cursor: page.next === null ? null : encodeCursor(page.next) });
          },
          POST: async ({ req }) => {
            queryOf(req.url, []);
            const m = jsonBody(req);
            const wanted = requestedClientId(m);
            const f = clientFields(m);
            const r = registrations();
            const secret = f.tokenEndpointAuthMethod === 'none' ? null : generateClientSecret();
            for (let attempt = 0; attempt < 3; attempt++) {
              const id = wanted ?? randomToken(16);
              const client = record({}, id, f, secret === null ? null : hashSecret(secret));
              if (await r.createClient(client)) {
                const body = { ...clientView(client), ...(secret === null ? {} : { client_secret: secret }) };
                return json(201, body, { Location: `${basePath}/clients/${encodeURIComponent(id)}` });
              }
              if (wanted !== undefined) break;
            }
            throw new AdminError(409, 'conflict', 'A client with this id exists');
          },
        },
      },
    },
    {
      pattern: ['clients', '*'],
      route: {
        methods: {
          GET: async ({ req, params }) => {
            queryOf(req.url, []);
            return json(200, clientView(await findClient(params[0]!)));
          },
          PUT: async ({ req, params }) => {
            queryOf(req.url, []);
            const id = params[0]!;
            const m = jsonBody(req);
            const named = requestedClientId(m);
            if (named !== undefined && named !== id)
              throw new AdminError(400, 'invalid_client_metadata', 'client_id does not match the path');
            const f = clientFields(m);
            const r = registrations();
            const current = await findClient(id);
            let secret: string | null = null;
            let secretHash: string | null = null;
            if (f.tokenEndpointAuthMethod !== 'none') {
              if (typeof current.secretHash === 'string' && current.secretHash !== '') secretHash = current.secretHash;
              else {
                secret = generateClientSecret();
                secretHash = hashSecret(secret);
              }
            }
            const client = record(current, id, f, secretHash);
            if (!(await r.updateClient(client))) throw new AdminError(404, 'not_found', 'No client has this id');
            return json(200, { ...clientView(client), ...(secret === null ? {} : { client_secret: secret }) });
          },
          DELETE: async ({ req, params }) => {
            queryOf(req.url, []);
            const id = params[0]!;
            if (!(await registrations().deleteClient(id))) throw new AdminError(404, 'not_found', 'No client has this id');
            // As core's RFC 7592 delete (section 2.3): the client's tokens and codes stop working at
            // once. After the delete, so that a token issued while it runs is revoked too.
            await stores.userGrants?.revokeClientGrants?.(id);
            return { status: 204, headers: { 'Cache-Control': 'no-store' }, body: '' };
          },
        },
      },
    },
    {
      pattern: ['clients', '*', 'secret'],
      route: {
        methods: {
          POST: async ({ req, params }) => {
            queryOf(req.url, []);
            const r = registrations();
            const current = await findClient(params[0]!);
            if (typeof current.secretHash !== 'string' || current.secretHash === '') {
              throw new AdminError(409, 'conflict', 'A public client has no secret to rotate');
            }
            const secret = generateClientSecret();
            const client = { ...current, secretHash: hashSecret(secret), clientSecretExpiresAt: null } as C;
            if (!(await r.updateClient(client))) throw new AdminError(404, 'not_found', 'No client has this id');
            return json(200, { client_id: current.id, client_secret: secret, client_secret_expires_at: null });
          },
        },
      },
    },
    {
      pattern: ['users', '*', 'grants'],
      route: {
        methods: {
          GET: async ({ req, params }) => {
            const { limit, after } = pageOf(queryOf(req.url, ['limit', 'cursor']));
            const userId = params[0]!;
            const all = [...(await provider.listUserGrants(userId))]
              .filter((g) => after === null || g.clientId > after)
              .sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
            const page = all.slice(0, limit);
            const grants = page.map((g) => ({
              client_id: g.clientId,
              scopes: [...g.scopes],
              first_issued_at: iso(g.firstIssuedAt),
              last_issued_at: iso(g.lastIssuedAt),
              grants: g.grants,
            }));
            const next = all.length > page.length ? encodeCursor(page[page.length - 1]!.clientId) : null;
            return json(200, { user_id: userId, grants, next_cursor: next });
          },
          DELETE: async ({ req, params }) => {
            queryOf(req.url, []);
            return json(200, { revoked: await provider.revokeUserGrants(params[0]!, null) });
          },
        },
      },
    },
    {
      pattern: ['users', '*', 'grants', '*'],
      route: {
        methods: {
          DELETE: async ({ req, params }) => {
            queryOf(req.url, []);
            return json(200, { revoked: await provider.revokeUserGrants(params[0]!, params[1]!) });
          },
        },
      },
    },
    {
      pattern: ['keys'],
      route: {
        methods: {
          GET: async ({ req }) => {
            queryOf(req.url, []);
            signsJwts();
            if (!stores.keys) throw new AdminError(501, 'not_implemented', 'No key store was given (stores.keys)');
            const now = Date.now();
            const keys = [...(await stores.keys.listKeys())]
              .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
              .map((k) => keyView(k, now));
            return json(200, { keys });
          },
        },
      },
    },
    {
      pattern: ['keys', 'rotate'],
      route: {
        methods: {
          POST: async ({ req }) => {
            queryOf(req.url, []);
            signsJwts();
            const { kid, activatesAt } = await provider.rotateSigningKey();
            return json(201, { kid, activates_at: activatesAt.toISOString() });
          },
        },
      },
    },
  ];

  function signsJwts(): void {
    if (!provider.handles(provider.options.endpoints.jwks)) {
      throw new AdminError(404, 'not_found', 'This provider does not sign access tokens (no JWT keys)');
    }
  }

  function match(segments: readonly string[]): { route: Route; params: string[] } | null {
    for (const { pattern, route } of routes) {
      if (pattern.length !== segments.length) continue;
      const params: string[] = [];
      let ok = true;
      for (let i = 0; i < pattern.length && ok; i++) {
        if (pattern[i] === '*') params.push(segment(segments[i]!));
        else ok = pattern[i] === segments[i];
      }
      if (ok) return { route, params };
    }
    return null;
  }

  function handles(path: string): boolean {
    return path === basePath || path.startsWith(`${basePath}/`);
  }

  async function serve(req: OAuthRequest): Promise<OAuthResponse> {
    if (req.url.length > MAX_URL) throw new AdminError(400, 'invalid_request', 'The URL is too long');
    const path = pathOnly(req.url);
    const rest = path.slice(basePath.length + 1);
    const segments = rest === '' ? [] : rest.split('/');
    if (segments.some((s) => s === '')) throw new AdminError(404, 'not_found', 'No such endpoint');
    const found = match(segments);
    if (!found) throw new AdminError(404, 'not_found', 'No such endpoint');
    const method = req.method.toUpperCase();
    const handler = found.route.methods[method];
    if (!handler) {
      const allow = Object.keys(found.route.methods).join(', ');
      throw new AdminError(405, 'invalid_request', `Use ${allow}`, { Allow: allow });
    }
    if (!(segments.length === 1 && segments[0] === 'openapi.json')) {
      const who = await authenticate(req);
      if ('status' in who) return who;
    }
    return handler({ req, params: found.params });
  }

  async function handle(req: OAuthRequest): Promise<OAuthResponse | null> {
    if (!handles(pathOnly(req.url))) return null;
    try {
      return await serve(req);
    } catch (err) {
      if (err instanceof AdminError) return err.response();
      if (isStoreUnavailable(err)) {
        return new AdminError(503, 'temporarily_unavailable', 'A store is unavailable; try again later').response();
      }
      if (err instanceof ConfigurationError) {
        return new AdminError(501, 'not_implemented', 'The provider is not configured for this (a store is missing)').response();
      }
      try {
        provider.options.logger.error('admin: a request failed', { cause: describeError(err) });
      } catch {
        // A logger that throws must not take the answer down with it.
      }
      return new AdminError(500, 'server_error', 'The server could not complete the request').response();
    }
  }

  return { basePath, bodyLimit, handles, handle };
}

/** The path of a URL (path and query), without the query. */
export function pathOnly(url: string): string {
  const i = url.search(/[?#]/);
  return i < 0 ? url : url.slice(0, i);
}
