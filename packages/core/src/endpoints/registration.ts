/**
 * Dynamic client registration (RFC 7591) and its management (RFC 7592): clients register
 * themselves with JSON metadata, get a client id, a secret (shown once, stored as a hash) and a
 * registration access token (shown once, stored as a digest) for their configuration endpoint.
 */
import type { Client, ClientAuthMethod, GrantType, User } from '../contract.js';
import { digestToken, generateClientSecret, hashSecret, randomToken, safeEqual, verifySecret } from '../crypto.js';
import { type EndpointResult, type Engine, fail } from '../engine.js';
import {
  InvalidClientMetadataError,
  InvalidRedirectUriError,
  InvalidRequestError,
  InvalidTokenError,
  isOAuthError,
  OAuthError,
  ServerError,
} from '../errors.js';
import type { OAuthRequest } from '../http.js';
import { endpointUrl } from '../options.js';
import { header } from '../params.js';
import { json, methodNotAllowed } from '../responses.js';

/** The client information response (RFC 7591 section 3.2.1, RFC 7592 section 3). */
export interface ClientInformationBody {
  client_id: string;
  client_secret?: string;
  client_id_issued_at: number;
  /** 0: the secret never expires. */
  client_secret_expires_at?: number;
  registration_access_token?: string;
  registration_client_uri: string;
  redirect_uris: string[];
  grant_types: string[];
  response_types: string[];
  token_endpoint_auth_method: ClientAuthMethod;
  scope?: string;
  client_name?: string;
  client_uri?: string;
  logo_uri?: string;
  contacts?: string[];
  software_id?: string;
  software_version?: string;
}

/** Validated metadata, as core keeps it on the client. */
interface Metadata {
  redirectUris: string[];
  grantTypes: GrantType[];
  responseTypes: string[];
  tokenEndpointAuthMethod: ClientAuthMethod;
  scopes: string[];
  name?: string;
  uri?: string;
  logoUri?: string;
  contacts?: string[];
  softwareId?: string;
  softwareVersion?: string;
}

const AUTH_METHODS: readonly ClientAuthMethod[] = ['client_secret_basic', 'client_secret_post', 'none'];
const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);
/** Schemes that never make a redirect URI, whatever the client says. */
const FORBIDDEN_SCHEMES = new Set(['javascript:', 'data:', 'file:', 'blob:', 'vbscript:', 'about:', 'ftp:', 'ws:', 'wss:']);
const MAX_REDIRECT_URIS = 10;
/** RFC 3986's characters: unreserved, reserved and `%`. */
const URI_CHARS = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+$/;
const MAX_URI = 2000;
const MAX_TEXT = 200;
const MAX_CONTACTS = 10;
/** Printable characters without controls (names and versions are shown on consent pages). */
const TEXT = /^[^\p{Cc}\p{Zl}\p{Zp}]+$/u;

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** RFC 8252 and RFC 9700: https, loopback http for native apps, or a private-use scheme (reverse domain). */
function checkRedirectUri(uri: string, authMethod: ClientAuthMethod): OAuthError | null {
  if (uri.length === 0 || uri.length > MAX_URI) return new InvalidRedirectUriError('A redirect URI is empty or too long');
  // The URL parser drops tabs and line breaks silently: the URI as registered must not hold any
  // character outside RFC 3986 (no controls, spaces or raw non-ASCII; percent-encode them).
  if (!URI_CHARS.test(uri)) return new InvalidRedirectUriError('A redirect URI holds characters outside RFC 3986');
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return new InvalidRedirectUriError('A redirect URI is not an absolute URI');
  }
  if (u.hash !== '' || uri.includes('#')) return new InvalidRedirectUriError('A redirect URI must not have a fragment');
  if (u.username !== '' || u.password !== '') return new InvalidRedirectUriError('A redirect URI must not carry credentials');
  if (FORBIDDEN_SCHEMES.has(u.protocol)) return new InvalidRedirectUriError(`The scheme ${u.protocol} is not allowed for redirect URIs`);
  if (u.protocol === 'https:') return null;
  if (u.protocol === 'http:') {
    return LOOPBACK.has(u.hostname) ? null : new InvalidRedirectUriError('http redirect URIs are allowed for loopback addresses only');
  }
  // RFC 8252 section 7.1: a private-use scheme, in reverse domain name form, for native (public) apps.
  if (!u.protocol.slice(0, -1).includes('.')) {
    return new InvalidRedirectUriError('A private-use redirect URI scheme must be a reverse domain name (com.example.app:/cb)');
  }
  return authMethod === 'none' ? null : new InvalidRedirectUriError('Private-use redirect URI schemes are for public (native) clients');
}

function optionalText(m: Record<string, unknown>, field: string): string | undefined | OAuthError {
  const v = m[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_TEXT || !TEXT.test(v)) {
    return new InvalidClientMetadataError(`${field} must be a string of 1 to ${MAX_TEXT} printable characters`);
  }
  return v;
}

function optionalHttpsUri(m: Record<string, unknown>, field: string): string | undefined | OAuthError {
  const v = m[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length > MAX_URI) return new InvalidClientMetadataError(`${field} must be an https URI`);
  try {
    const u = new URL(v);
    if (u.protocol !== 'https:' || u.username !== '' || u.password !== '')
      return new InvalidClientMetadataError(`${field} must be an https URI`);
  } catch {
    return new InvalidClientMetadataError(`${field} must be an https URI`);
  }
  return v;
}

/** Validates the metadata of a registration or an update (RFC 7591 section 2). Unknown fields are ignored. */
function validateMetadata<U extends User, C extends Client>(
  e: Engine<U, C>,
  m: Record<string, unknown>,
  allowedGrants: ReadonlySet<GrantType> = e.o.registration.grantTypes,
  allowedScopes: ReadonlySet<string> | null = e.o.registration.scopes,
): Metadata | OAuthError {
  // Keys and signed assertions are not supported (yet): refused rather than ignored.
  for (const f of ['jwks', 'jwks_uri', 'software_statement']) {
    if (m[f] !== undefined) return new InvalidClientMetadataError(`${f} is not supported by this server`);
  }
  const method = m.token_endpoint_auth_method ?? 'client_secret_basic';
  if (typeof method !== 'string' || !AUTH_METHODS.includes(method as ClientAuthMethod)) {
    return new InvalidClientMetadataError(`token_endpoint_auth_method must be one of ${AUTH_METHODS.join(', ')}`);
  }
  const authMethod = method as ClientAuthMethod;
  const grants = m.grant_types ?? ['authorization_code'];
  if (!isStringArray(grants) || grants.length === 0 || grants.length > 10)
    return new InvalidClientMetadataError('grant_types must be a list of grant types');
  for (const g of grants) {
    if (!allowedGrants.has(g as GrantType) || !e.o.grants.has(g as GrantType)) {
      return new InvalidClientMetadataError(`The grant type '${g}' is not allowed for registered clients`);
    }
  }
  // RFC 6749 section 4.4: the client credentials grant is for clients that authenticate; a public
  // client asking for it would get tokens for anyone who knows its id.
  if (authMethod === 'none' && grants.includes('client_credentials')) {
    return new InvalidClientMetadataError(
      'The client_credentials grant needs client authentication: not with token_endpoint_auth_method none',
    );
  }
  const wantsCode = grants.includes('authorization_code');
  const responses = m.response_types ?? (wantsCode ? ['code'] : []);
  if (!isStringArray(responses)) return new InvalidClientMetadataError('response_types must be a list');
  for (const t of responses) {
    if (t !== 'code') return new InvalidClientMetadataError(`The response type '${t}' is not allowed for registered clients`);
  }
  // RFC 7591 section 2.1: grant_types and response_types must agree.
  if (wantsCode !== responses.includes('code')) {
    return new InvalidClientMetadataError('response_types code goes with grant_types authorization_code, and the other way round');
  }
  const uris = m.redirect_uris ?? [];
  if (!isStringArray(uris) || uris.length > MAX_REDIRECT_URIS) {
    return new InvalidRedirectUriError(`redirect_uris must be a list of at most ${MAX_REDIRECT_URIS} URIs`);
  }
  if (wantsCode && uris.length === 0) return new InvalidRedirectUriError('redirect_uris is required for the authorization code grant');
  for (const u of uris) {
    const bad = checkRedirectUri(u, authMethod);
    if (bad) return bad;
  }
  let scopes: string[];
  if (m.scope === undefined || m.scope === null) scopes = allowedScopes ? [...allowedScopes] : [];
  else {
    if (typeof m.scope !== 'string' || m.scope.length > 2000 || !/^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$/.test(m.scope)) {
      return new InvalidClientMetadataError('scope must be a space-delimited list of scopes');
    }
    scopes = [...new Set(m.scope.split(' '))];
    for (const s of scopes) {
      if (!allowedScopes?.has(s)) return new InvalidClientMetadataError(`The scope '${s}' is not allowed for registered clients`);
    }
  }
  const name = optionalText(m, 'client_name');
  const softwareId = optionalText(m, 'software_id');
  const softwareVersion = optionalText(m, 'software_version');
  const uri = optionalHttpsUri(m, 'client_uri');
  const logoUri = optionalHttpsUri(m, 'logo_uri');
  for (const v of [name, softwareId, softwareVersion, uri, logoUri]) if (isOAuthError(v)) return v;
  let contacts: string[] | undefined;
  if (m.contacts !== undefined && m.contacts !== null) {
    if (
      !isStringArray(m.contacts) ||
      m.contacts.length > MAX_CONTACTS ||
      !m.contacts.every((c) => c.length > 0 && c.length <= 320 && TEXT.test(c))
    ) {
      return new InvalidClientMetadataError(`contacts must be a list of at most ${MAX_CONTACTS} addresses`);
    }
    contacts = [...m.contacts];
  }
  return {
    redirectUris: [...uris],
    grantTypes: grants as GrantType[],
    responseTypes: [...responses],
    tokenEndpointAuthMethod: authMethod,
    scopes,
    ...(name !== undefined ? { name: name as string } : {}),
    ...(uri !== undefined ? { uri: uri as string } : {}),
    ...(logoUri !== undefined ? { logoUri: logoUri as string } : {}),
    ...(contacts !== undefined ? { contacts } : {}),
    ...(softwareId !== undefined ? { softwareId: softwareId as string } : {}),
    ...(softwareVersion !== undefined ? { softwareVersion: softwareVersion as string } : {}),
  };
}

/** The JSON object of the request body (RFC 7591 section 3.1), or the error to answer. */
function jsonObject(req: OAuthRequest): Record<string, unknown> | OAuthError {
  const ct = header(req, 'content-type');
  const type = ct?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') return new InvalidClientMetadataError('The body must be application/json');
  let value: unknown = req.parsedBody;
  if (req.body !== undefined) {
    try {
      value = JSON.parse(req.body);
    } catch {
      return new InvalidClientMetadataError('The body is not valid JSON');
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return new InvalidClientMetadataError('The body must be a JSON object');
  return value as Record<string, unknown>;
}

/** The bearer token of the `Authorization` header, or `null`. */
function bearer(req: OAuthRequest): string | null {
  const auth = header(req, 'authorization');
  if (auth === undefined || auth.length < 8 || auth.slice(0, 7).toLowerCase() !== 'bearer ') return null;
  const t = auth.slice(7).trim();
  return /^[A-Za-z0-9\-._~+/]+=*$/.test(t) ? t : null;
}

/** A 401 with an RFC 6750 challenge (registration and configuration endpoints are bearer-protected). */
function unauthorized(description: string): EndpointResult {
  const err = new InvalidTokenError(description);
  return fail(
    err,
    json(
      401,
      { error: err.error, error_description: err.message },
      {
        'WWW-Authenticate': `Bearer error="invalid_token", error_description="${err.message}"`,
      },
    ),
  );
}

function configurationUri<U extends User, C extends Client>(e: Engine<U, C>, clientId: string): string {
  return endpointUrl(e.o, `${e.o.endpoints.registration}/${encodeURIComponent(clientId)}`);
}

function information<U extends User, C extends Client>(
  e: Engine<U, C>,
  client: Client,
  extra: { secret?: string; accessToken?: string },
): ClientInformationBody {
  const reg = client.registration!;
  const body: ClientInformationBody = {
    client_id: client.id,
    client_id_issued_at: Math.floor(reg.issuedAt.getTime() / 1000),
    registration_client_uri: configurationUri(e, client.id),
    redirect_uris: [...client.redirectUris],
    grant_types: [...client.grantTypes],
    response_types: [...reg.responseTypes],
    token_endpoint_auth_method: client.tokenEndpointAuthMethod ?? 'client_secret_basic',
  };
  if (extra.secret !== undefined) body.client_secret = extra.secret;
  if (client.secretHash) {
    const at = client.clientSecretExpiresAt;
    body.client_secret_expires_at = at ? Math.floor(at.getTime() / 1000) : 0;
  }
  if (extra.accessToken !== undefined) body.registration_access_token = extra.accessToken;
  if (client.scopes.length > 0) body.scope = client.scopes.join(' ');
  if (client.name !== undefined) body.client_name = client.name;
  if (client.uri !== undefined) body.client_uri = client.uri;
  if (client.logoUri !== undefined) body.logo_uri = client.logoUri;
  if (reg.contacts !== undefined) body.contacts = [...reg.contacts];
  if (reg.softwareId !== undefined) body.software_id = reg.softwareId;
  if (reg.softwareVersion !== undefined) body.software_version = reg.softwareVersion;
  return body;
}

/** A client record from validated metadata; `secret` present for confidential clients. */
function clientFrom(
  id: string,
  m: Metadata,
  secret: { hash: string; expiresAt: Date | null } | null,
  accessTokenHash: string,
  issuedAt: Date,
  firstUsedAt?: Date,
): Client {
  return {
    id,
    secretHash: secret?.hash ?? null,
    redirectUris: m.redirectUris,
    grantTypes: m.grantTypes,
    scopes: m.scopes,
    tokenEndpointAuthMethod: m.tokenEndpointAuthMethod,
    ...(secret ? { clientSecretExpiresAt: secret.expiresAt } : {}),
    ...(m.name !== undefined ? { name: m.name } : {}),
    ...(m.uri !== undefined ? { uri: m.uri } : {}),
    ...(m.logoUri !== undefined ? { logoUri: m.logoUri } : {}),
    registration: {
      accessTokenHash,
      issuedAt,
      responseTypes: m.responseTypes,
      ...(m.contacts !== undefined ? { contacts: m.contacts } : {}),
      ...(m.softwareId !== undefined ? { softwareId: m.softwareId } : {}),
      ...(m.softwareVersion !== undefined ? { softwareVersion: m.softwareVersion } : {}),
      ...(firstUsedAt !== undefined ? { firstUsedAt } : {}),
    },
  };
}

/** A new secret (shown once) and what is stored of it. */
function newSecret(e: Engine): { value: string; hash: string; expiresAt: Date | null } {
  const value = generateClientSecret();
  const life = e.o.registration.clientSecretLifetime;
  return { value, hash: hashSecret(value), expiresAt: life > 0 ? new Date(Date.now() + life * 1000) : null };
}

/** Registrations per client address in fixed windows, per process (a first line; put a shared limit in front too). */
export class RegistrationLimiter {
  private readonly counts = new Map<string, { n: number; resetAt: number }>();
  constructor(
    private readonly max: number,
    private readonly windowMs: number,
  ) {}
  /** Seconds until `key` may register again (0: it may now), counting this attempt. */
  take(key: string): number {
    const now = Date.now();
    let c = this.counts.get(key);
    if (!c || c.resetAt <= now) {
      if (this.counts.size >= 10_000) for (const [k, v] of this.counts) if (v.resetAt <= now) this.counts.delete(k);
      if (this.counts.size >= 10_000) this.counts.delete(this.counts.keys().next().value!);
      c = { n: 0, resetAt: now + this.windowMs };
      this.counts.set(key, c);
    }
    c.n++;
    return c.n > this.max ? Math.max(1, Math.ceil((c.resetAt - now) / 1000)) : 0;
  }
}

/** `POST /oauth/register` (RFC 7591 section 3). */
export async function registrationEndpoint<U extends User, C extends Client>(
  e: Engine<U, C>,
  req: OAuthRequest,
  limiter: RegistrationLimiter,
): Promise<EndpointResult> {
  if (req.method !== 'POST') return fail(new InvalidRequestError('Use POST'), methodNotAllowed('POST'));
  const r = e.o.registration;
  // RFC 7591 section 3: an initial access token, when the server asks for one.
  if (r.initialAccessTokens.length > 0) {
    const t = bearer(req);
    if (t === null || !r.initialAccessTokens.some((x) => safeEqual(x, t))) return unauthorized('A valid initial access token is required');
  }
  const wait = limiter.take(req.remoteAddress ?? 'unknown');
  if (wait > 0) {
    const err = new OAuthError('temporarily_unavailable', 'Too many registrations from this address; try again later', 429, {
      headers: { 'Retry-After': String(wait) },
    });
    return fail(err);
  }
  const body = jsonObject(req);
  if (isOAuthError(body)) return fail(body);
  const m = validateMetadata(e, body);
  if (isOAuthError(m)) return fail(m);
  const secret = m.tokenEndpointAuthMethod === 'none' ? null : newSecret(e);
  const accessToken = randomToken();
  const issuedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
  for (let i = 0; i < 3; i++) {
    const client = clientFrom(randomToken(16), m, secret, digestToken(accessToken), issuedAt) as C;
    if (await e.s.registrations!.createClient(client)) {
      const info = information(e, client, { ...(secret ? { secret: secret.value } : {}), accessToken });
      return {
        response: json(201, info),
        error: null,
        clientId: client.id,
        userId: null,
        grantType: null,
        scopes: m.scopes,
        issuedGrantId: null,
      };
    }
  }
  return fail(new ServerError('Could not draw a free client id'));
}

/** The client a configuration request names, if its registration access token is right. */
async function authorizedClient<U extends User, C extends Client>(e: Engine<U, C>, req: OAuthRequest, clientId: string): Promise<C | null> {
  const t = bearer(req);
  if (t === null || clientId === '') return null;
  const client = await e.s.getClient!(clientId);
  const hash = client?.registration?.accessTokenHash;
  if (!client || hash === undefined) return null;
  return safeEqual(digestToken(t), hash) ? client : null;
}

/**
 * The client configuration endpoint (RFC 7592): `GET` reads, `PUT` replaces the metadata and
 * rotates the registration access token, `DELETE` removes the client and then, through the
 * optional `UserGrantStore.revokeClientGrants`, revokes its access tokens, refresh tokens and
 * unredeemed codes at once (RFC 7592 section 2.3). Without a `userGrants` store that has it, the
 * deleted client's access tokens keep working until they expire (its refresh tokens and codes
 * fail at once: the client can no longer authenticate).
 */
export async function clientConfigurationEndpoint<U extends User, C extends Client>(
  e: Engine<U, C>,
  req: OAuthRequest,
  clientId: string,
): Promise<EndpointResult> {
  if (req.method !== 'GET' && req.method !== 'PUT' && req.method !== 'DELETE') {
    return fail(new InvalidRequestError('Use GET, PUT or DELETE'), methodNotAllowed('GET, PUT, DELETE'));
  }
  // RFC 7592 section 2: an unknown client and a wrong token look the same (401), so ids do not leak.
  const client = await authorizedClient(e, req, clientId);
  if (!client) return unauthorized('The registration access token is invalid');
  const ok = (status: number, body: unknown): EndpointResult => ({
    response: status === 204 ? { status, headers: { 'Cache-Control': 'no-store', Pragma: 'no-cache' }, body: '' } : json(status, body),
    error: null,
    clientId: client.id,
    userId: null,
    grantType: null,
    scopes: null,
    issuedGrantId: null,
  });
  if (req.method === 'GET') return ok(200, information(e, client, {}));
  if (req.method === 'DELETE') {
    await e.s.registrations!.deleteClient(client.id);
    // RFC 7592 section 2.3: the client's grants and tokens stop working at once. After the delete,
    // so that a token issued while the delete runs is revoked too (its client is then gone).
    await e.s.userGrants?.revokeClientGrants?.(client.id);
    return ok(204, null);
  }
  const body = jsonObject(req);
  if (isOAuthError(body)) return fail(body, undefined, client.id);
  // RFC 7592 section 2.2: the client_id must be included and unchanged; the server-set fields must not be sent.
  if (body.client_id !== client.id)
    return fail(new InvalidClientMetadataError('client_id must be the registered client id'), undefined, client.id);
  for (const f of ['registration_access_token', 'registration_client_uri', 'client_secret_expires_at', 'client_id_issued_at']) {
    if (body[f] !== undefined) return fail(new InvalidClientMetadataError(`${f} must not be sent`), undefined, client.id);
  }
  if (body.client_secret !== undefined) {
    const matches =
      typeof body.client_secret === 'string' && client.secretHash ? await verifySecret(body.client_secret, client.secretHash) : false;
    if (!matches) return fail(new InvalidClientMetadataError('client_secret does not match'), undefined, client.id);
  }
  const m = validateMetadata(e, body);
  if (isOAuthError(m)) return fail(m, undefined, client.id);
  // A client that becomes confidential gets a secret; one that stays keeps its own.
  let secret: { hash: string; expiresAt: Date | null } | null = null;
  let shown: string | undefined;
  if (m.tokenEndpointAuthMethod !== 'none') {
    if (client.secretHash) secret = { hash: client.secretHash, expiresAt: client.clientSecretExpiresAt ?? null };
    else {
      const s = newSecret(e);
      secret = s;
      shown = s.value;
    }
  }
  const accessToken = randomToken();
  // RFC 7592 section 2.2: the update replaces the metadata; fields it leaves out are gone. Fields
  // of the application's own client type (not metadata) are kept.
  const { name: _name, uri: _uri, logoUri: _logo, clientSecretExpiresAt: _expiry, ...kept } = client;
  // The first-use mark is the server's, not metadata: an update keeps it.
  const updated = {
    ...kept,
    ...clientFrom(client.id, m, secret, digestToken(accessToken), client.registration!.issuedAt, client.registration!.firstUsedAt),
  } as C;
  if (!(await e.s.registrations!.updateClient(updated))) return unauthorized('The registration access token is invalid');
  return ok(200, information(e, updated, { ...(shown !== undefined ? { secret: shown } : {}), accessToken }));
}

/**
 * The client a Client ID Metadata Document describes: the same metadata rules as registration,
 * plus `client_id` equal to the document's URL and no shared secret (such clients are public).
 * @returns the client, or why the document is refused (for logs).
 */
export function documentClient<U extends User, C extends Client>(
  e: Engine<U, C>,
  doc: Record<string, unknown>,
  clientId: string,
): Client | string {
  if (doc.client_id !== clientId) return 'client_id in the document is not the URL it was fetched from';
  if (doc.client_secret !== undefined) return 'a metadata document must not carry a client_secret';
  const method = doc.token_endpoint_auth_method ?? 'none';
  if (method !== 'none') return 'token_endpoint_auth_method must be none (private_key_jwt is not supported yet)';
  const cimd = e.o.clientIdMetadataDocuments;
  const m = validateMetadata(e, { ...doc, token_endpoint_auth_method: 'none' }, cimd.grantTypes, cimd.scopes);
  if (isOAuthError(m)) return `${m.error}: ${m.message}`;
  return {
    id: clientId,
    secretHash: null,
    redirectUris: m.redirectUris,
    grantTypes: m.grantTypes,
    scopes: m.scopes,
    tokenEndpointAuthMethod: 'none',
    ...(m.name !== undefined ? { name: m.name } : {}),
    ...(m.uri !== undefined ? { uri: m.uri } : {}),
    ...(m.logoUri !== undefined ? { logoUri: m.logoUri } : {}),
  };
}
