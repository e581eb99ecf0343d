/**
 * Client metadata as the admin API takes and shows it (snake_case members, close to RFC 7591),
 * validated strictly: an unknown member, a wrong type or a malformed URI is an error that names
 * the member, never echoing the value sent.
 */
import type { Client, ClientAuthMethod, GrantType } from '@portcullis/core';
import { AdminError } from './errors.js';

const GRANT_TYPES: ReadonlySet<string> = new Set<GrantType>([
  'authorization_code',
  'refresh_token',
  'client_credentials',
  'password',
  'implicit',
  'urn:ietf:params:oauth:grant-type:device_code',
]);
const AUTH_METHODS: ReadonlySet<string> = new Set<ClientAuthMethod>(['client_secret_basic', 'client_secret_post', 'none']);
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;
const CLIENT_ID = /^[A-Za-z0-9._~:@/+-]{1,200}$/;
const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** Whether `s` holds a control character (C0 or DEL). */
export function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** The members a request may carry. */
const MEMBERS = new Set([
  'client_id',
  'redirect_uris',
  'grant_types',
  'scopes',
  'default_scopes',
  'token_endpoint_auth_method',
  'resource_server',
  'resources',
  'require_pushed_authorization_requests',
  'dpop_bound_access_tokens',
  'client_name',
  'client_uri',
  'logo_uri',
  'administrator',
  'client_secret_expires_at',
]);

/** Validated metadata, in core's field names (everything but the id and the secret). */
export interface ClientFields {
  readonly redirectUris: readonly string[];
  readonly grantTypes: readonly GrantType[];
  readonly scopes: readonly string[];
  readonly defaultScopes?: readonly string[];
  readonly tokenEndpointAuthMethod: ClientAuthMethod;
  readonly resourceServer?: boolean;
  readonly resources?: readonly string[];
  readonly requirePushedAuthorizationRequests?: boolean;
  readonly dpopBoundAccessTokens?: boolean;
  readonly name?: string;
  readonly uri?: string;
  readonly logoUri?: string;
  readonly administrator: boolean;
  readonly clientSecretExpiresAt: Date | null;
}

const bad = (description: string) => new AdminError(400, 'invalid_client_metadata', description);

function stringList(v: unknown, member: string, max: number, check: (s: string) => boolean): string[] {
  if (!Array.isArray(v)) throw bad(`${member} must be an array of strings`);
  if (v.length > max) throw bad(`${member} has more than ${max} entries`);
  const out: string[] = [];
  for (const s of v) {
    if (typeof s !== 'string' || !check(s)) throw bad(`${member} has an invalid entry`);
    if (out.includes(s)) throw bad(`${member} has a repeated entry`);
    out.push(s);
  }
  return out;
}

function parseUrl(s: string, maxLength: number): URL | null {
  if (s.length === 0 || s.length > maxLength || hasControl(s) || s.includes(' ')) return null;
  try {
    return new URL(s);
  } catch {
    return null;
  }
}

/** An https URL (for `client_uri`, `logo_uri`), without credentials or fragment. */
function isWebUrl(s: string): boolean {
  const u = parseUrl(s, 2000);
  return u !== null && u.protocol === 'https:' && u.username === '' && u.password === '' && u.hash === '' && !s.includes('#');
}

/**
 * A redirect URI (RFC 9700 section 2.1, RFC 8252): https, http on a loopback address, or a
 * private-use scheme in reverse domain form; no fragment, no credentials; never `javascript:`,
 * `data:` and the like.
 */
function isRedirectUri(s: string): boolean {
  const u = parseUrl(s, 2000);
  if (u === null || s.includes('#') || u.username !== '' || u.password !== '') return false;
  if (u.protocol === 'https:') return u.hostname !== '';
  if (u.protocol === 'http:') return LOOPBACK.has(u.hostname);
  const scheme = u.protocol.slice(0, -1);
  return /^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+$/.test(scheme);
}

/** A resource indicator (RFC 8707): an absolute URI without a fragment. */
function isResource(s: string): boolean {
  const u = parseUrl(s, 2048);
  return u !== null && !s.includes('#');
}

function bool(v: unknown, member: string): boolean {
  if (typeof v !== 'boolean') throw bad(`${member} must be true or false`);
  return v;
}

/** The own members of a JSON body (no prototype lookups), with unknown members refused. */
export function ownMembers(body: unknown): Map<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new AdminError(400, 'invalid_request', 'The body must be a JSON object');
  }
  const out = new Map<string, unknown>();
  for (const key of Object.keys(body)) {
    if (!MEMBERS.has(key)) {
      throw bad(/^[a-z_]{1,40}$/.test(key) ? `Unknown member ${key}` : 'Unknown member');
    }
    out.set(key, (body as Record<string, unknown>)[key]);
  }
  return out;
}

/** The `client_id` of a create request, or `undefined` when left out. */
export function requestedClientId(m: ReadonlyMap<string, unknown>): string | undefined {
  const v = m.get('client_id');
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !CLIENT_ID.test(v)) {
    throw bad('client_id must be 1 to 200 characters of letters, digits and ._~:@/+-');
  }
  return v;
}

/** Validates a create or replace request's metadata (see `ClientInput` in the OpenAPI document). */
export function clientFields(m: ReadonlyMap<string, unknown>): ClientFields {
  const grants = m.get('grant_types');
  if (grants === undefined) throw bad('grant_types is required');
  const grantTypes = stringList(grants, 'grant_types', 6, (s) => GRANT_TYPES.has(s)) as GrantType[];
  if (grantTypes.length === 0) throw bad('grant_types must not be empty');
  const redirectUris = m.has('redirect_uris') ? stringList(m.get('redirect_uris'), 'redirect_uris', 20, isRedirectUri) : [];
  if ((grantTypes.includes('authorization_code') || grantTypes.includes('implicit')) && redirectUris.length === 0) {
    throw new AdminError(400, 'invalid_redirect_uri', 'authorization_code and implicit need at least one redirect URI');
  }
  const scopes = m.has('scopes') ? stringList(m.get('scopes'), 'scopes', 100, (s) => SCOPE_TOKEN.test(s)) : [];
  let defaultScopes: string[] | undefined;
  if (m.has('default_scopes')) {
    defaultScopes = stringList(m.get('default_scopes'), 'default_scopes', 100, (s) => SCOPE_TOKEN.test(s));
    if (defaultScopes.some((s) => !scopes.includes(s))) throw bad('default_scopes must be among scopes');
  }
  const method = m.get('token_endpoint_auth_method') ?? 'client_secret_basic';
  if (typeof method !== 'string' || !AUTH_METHODS.has(method)) {
    throw bad('token_endpoint_auth_method must be client_secret_basic, client_secret_post or none');
  }
  const tokenEndpointAuthMethod = method as ClientAuthMethod;
  if (tokenEndpointAuthMethod === 'none' && (grantTypes.includes('client_credentials') || grantTypes.includes('password'))) {
    throw bad('A public client (token_endpoint_auth_method none) cannot use client_credentials or password');
  }
  const out: {
    -readonly [K in keyof ClientFields]: ClientFields[K];
  } = {
    redirectUris,
    grantTypes,
    scopes,
    tokenEndpointAuthMethod,
    administrator: m.has('administrator') ? bool(m.get('administrator'), 'administrator') : false,
    clientSecretExpiresAt: null,
  };
  if (defaultScopes) out.defaultScopes = defaultScopes;
  if (m.has('resource_server')) out.resourceServer = bool(m.get('resource_server'), 'resource_server');
  if (m.has('require_pushed_authorization_requests')) {
    out.requirePushedAuthorizationRequests = bool(m.get('require_pushed_authorization_requests'), 'require_pushed_authorization_requests');
  }
  if (m.has('dpop_bound_access_tokens')) out.dpopBoundAccessTokens = bool(m.get('dpop_bound_access_tokens'), 'dpop_bound_access_tokens');
  if (m.has('resources')) out.resources = stringList(m.get('resources'), 'resources', 10, isResource);
  const name = m.get('client_name');
  if (name !== undefined) {
    if (typeof name !== 'string' || name.length === 0 || name.length > 200 || hasControl(name)) {
      throw bad('client_name must be 1 to 200 characters without control characters');
    }
    out.name = name;
  }
  for (const [member, field] of [
    ['client_uri', 'uri'],
    ['logo_uri', 'logoUri'],
  ] as const) {
    const v = m.get(member);
    if (v === undefined) continue;
    if (typeof v !== 'string' || !isWebUrl(v)) throw bad(`${member} must be an https URL`);
    out[field] = v;
  }
  const expires = m.get('client_secret_expires_at');
  if (expires !== undefined && expires !== null) {
    const at = typeof expires === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/.test(expires) ? new Date(expires) : null;
    if (at === null || Number.isNaN(at.getTime())) throw bad('client_secret_expires_at must be a UTC date-time (or null)');
    out.clientSecretExpiresAt = at;
  }
  return out;
}

function iso(d: unknown): string | null {
  return d instanceof Date && !Number.isNaN(d.getTime()) ? d.toISOString() : null;
}

/** A client as the API shows it: never `secretHash` nor the registration token's digest. */
export function clientView(c: Client): Record<string, unknown> {
  const out: Record<string, unknown> = {
    client_id: c.id,
    confidential: typeof c.secretHash === 'string' && c.secretHash !== '',
    redirect_uris: [...c.redirectUris],
    grant_types: [...c.grantTypes],
    scopes: [...c.scopes],
  };
  if (c.defaultScopes) out.default_scopes = [...c.defaultScopes];
  if (c.tokenEndpointAuthMethod) out.token_endpoint_auth_method = c.tokenEndpointAuthMethod;
  if (c.resourceServer !== undefined) out.resource_server = c.resourceServer;
  if (c.resources) out.resources = [...c.resources];
  if (c.requirePushedAuthorizationRequests !== undefined) out.require_pushed_authorization_requests = c.requirePushedAuthorizationRequests;
  if (c.dpopBoundAccessTokens !== undefined) out.dpop_bound_access_tokens = c.dpopBoundAccessTokens;
  if (c.name !== undefined) out.client_name = c.name;
  if (c.uri !== undefined) out.client_uri = c.uri;
  if (c.logoUri !== undefined) out.logo_uri = c.logoUri;
  out.administrator = c.administrator === true;
  out.client_secret_expires_at = iso(c.clientSecretExpiresAt);
  const r = c.registration;
  if (r) {
    const reg: Record<string, unknown> = { issued_at: iso(r.issuedAt) ?? new Date(0).toISOString(), response_types: [...r.responseTypes] };
    if (r.contacts) reg.contacts = [...r.contacts];
    if (r.softwareId !== undefined) reg.software_id = r.softwareId;
    if (r.softwareVersion !== undefined) reg.software_version = r.softwareVersion;
    out.registration = reg;
  }
  return out;
}
