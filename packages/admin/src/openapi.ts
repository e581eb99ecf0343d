/**
 * The OpenAPI 3.1 description of the admin API. Its schemas are JSON Schema 2020-12 and describe
 * every response exactly (`additionalProperties: false`), so a test can hold each answer to them.
 */

/** A JSON value, as the OpenAPI document is made of. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** The shape of `adminOpenApi`: an OpenAPI 3.1 document (only the members it uses are typed). */
export interface AdminOpenApiDocument {
  readonly openapi: string;
  readonly info: { readonly [key: string]: JsonValue };
  readonly servers?: readonly { readonly url: string }[];
  readonly security: readonly { readonly [scheme: string]: readonly string[] }[];
  readonly paths: { readonly [path: string]: { readonly [key: string]: JsonValue } };
  readonly components: { readonly [key: string]: { readonly [name: string]: JsonValue } };
}

/** The characters of `error` and `error_description` (RFC 6749 section 5.2): printable ASCII without `"` and `\`. */
const ERROR_TEXT = '^[\\x20\\x21\\x23-\\x5B\\x5D-\\x7E]*$';
/** One scope token (RFC 6749 section 3.3). */
const SCOPE_TOKEN = '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$';
const GRANT_TYPES = [
  'authorization_code',
  'refresh_token',
  'client_credentials',
  'password',
  'implicit',
  'urn:ietf:params:oauth:grant-type:device_code',
];
const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'none'];

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const str = (maxLength: number) => ({ type: 'string', minLength: 1, maxLength });
const dateTime = { type: 'string', format: 'date-time' };
const strings = (maxItems: number, item: JsonValue) => ({ type: 'array', maxItems, items: item });

/** Client metadata members shared by requests and responses. */
const metadataProperties = {
  redirect_uris: { ...strings(20, { type: 'string', format: 'uri', maxLength: 2000 }), description: 'Matched exactly.' },
  grant_types: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: GRANT_TYPES } },
  scopes: { ...strings(100, { type: 'string', pattern: SCOPE_TOKEN, maxLength: 128 }), uniqueItems: true },
  default_scopes: { ...strings(100, { type: 'string', pattern: SCOPE_TOKEN, maxLength: 128 }), uniqueItems: true },
  token_endpoint_auth_method: { enum: AUTH_METHODS },
  resource_server: { type: 'boolean' },
  resources: strings(10, { type: 'string', format: 'uri', maxLength: 2048 }),
  require_pushed_authorization_requests: { type: 'boolean' },
  dpop_bound_access_tokens: { type: 'boolean' },
  client_name: str(200),
  client_uri: { type: 'string', format: 'uri', maxLength: 2000 },
  logo_uri: { type: 'string', format: 'uri', maxLength: 2000 },
  administrator: { type: 'boolean', description: 'Tokens of this client with the `admin` scope may use this API.' },
};

/** Members of a client as the API shows it (never a secret or a digest). */
const clientProperties = {
  client_id: str(256),
  confidential: { type: 'boolean', description: '`true` when the client has a secret.' },
  ...metadataProperties,
  client_secret_expires_at: { oneOf: [dateTime, { type: 'null' }] },
  registration: {
    type: 'object',
    description: 'What dynamic registration (RFC 7591) kept of a self-registered client.',
    additionalProperties: false,
    required: ['issued_at', 'response_types'],
    properties: {
      issued_at: dateTime,
      contacts: strings(100, { type: 'string' }),
      software_id: { type: 'string' },
      software_version: { type: 'string' },
      response_types: strings(10, { type: 'string' }),
    },
  },
};
const clientRequired = ['client_id', 'confidential', 'redirect_uris', 'grant_types', 'scopes', 'administrator', 'client_secret_expires_at'];
const secret = { type: 'string', minLength: 43, maxLength: 43, description: 'Shown this once; only a hash is stored.' };

const schemas = {
  Error: {
    type: 'object',
    additionalProperties: false,
    required: ['error'],
    properties: {
      error: { type: 'string', minLength: 1, maxLength: 64, pattern: ERROR_TEXT },
      error_description: { type: 'string', maxLength: 512, pattern: ERROR_TEXT },
    },
  },
  ClientInput: {
    type: 'object',
    description: 'Metadata of a client to create or replace. Unknown members are refused.',
    additionalProperties: false,
    required: ['grant_types'],
    properties: {
      client_id: { type: 'string', pattern: '^[A-Za-z0-9._~:@/+-]{1,200}$', description: 'On create only; drawn when left out.' },
      ...metadataProperties,
      client_secret_expires_at: { oneOf: [dateTime, { type: 'null' }] },
    },
  },
  Client: { type: 'object', additionalProperties: false, required: clientRequired, properties: clientProperties },
  ClientWithSecret: {
    type: 'object',
    description: 'A client just created or changed; `client_secret` is present when a secret was made.',
    additionalProperties: false,
    required: clientRequired,
    properties: { ...clientProperties, client_secret: secret },
  },
  ClientList: {
    type: 'object',
    additionalProperties: false,
    required: ['clients', 'next_cursor'],
    properties: { clients: { type: 'array', maxItems: 100, items: ref('Client') }, next_cursor: ref('Cursor') },
  },
  Cursor: {
    oneOf: [{ type: 'string', pattern: '^[A-Za-z0-9_-]{1,1400}$' }, { type: 'null' }],
    description: 'Opaque; `null` on the last page.',
  },
  SecretRotated: {
    type: 'object',
    additionalProperties: false,
    required: ['client_id', 'client_secret', 'client_secret_expires_at'],
    properties: { client_id: str(256), client_secret: secret, client_secret_expires_at: { type: 'null' } },
  },
  UserGrant: {
    type: 'object',
    additionalProperties: false,
    required: ['client_id', 'scopes', 'first_issued_at', 'last_issued_at', 'grants'],
    properties: {
      client_id: str(256),
      scopes: { type: 'array', items: { type: 'string' } },
      first_issued_at: { oneOf: [dateTime, { type: 'null' }] },
      last_issued_at: { oneOf: [dateTime, { type: 'null' }] },
      grants: { type: 'integer', minimum: 1, description: 'Live token families (authorizations).' },
    },
  },
  UserGrantList: {
    type: 'object',
    additionalProperties: false,
    required: ['user_id', 'grants', 'next_cursor'],
    properties: { user_id: str(256), grants: { type: 'array', maxItems: 100, items: ref('UserGrant') }, next_cursor: ref('Cursor') },
  },
  Revoked: {
    type: 'object',
    additionalProperties: false,
    required: ['revoked'],
    properties: { revoked: { type: 'integer', minimum: 0, description: 'Token families and codes revoked.' } },
  },
  PublicJwk: {
    type: 'object',
    description: 'A public key as the JWKS publishes it (no private member).',
    additionalProperties: false,
    required: ['kty'],
    properties: Object.fromEntries(['kty', 'crv', 'x', 'y', 'n', 'e', 'kid', 'alg', 'use'].map((k) => [k, { type: 'string' }])),
  },
  Key: {
    type: 'object',
    additionalProperties: false,
    required: ['kid', 'alg', 'status', 'created_at', 'activates_at', 'retires_at', 'jwk'],
    properties: {
      kid: str(256),
      alg: { enum: ['ES256', 'EdDSA', 'RS256'] },
      status: { enum: ['next', 'active', 'retired'], description: '`next`: published, not signing yet.' },
      created_at: dateTime,
      activates_at: dateTime,
      retires_at: { oneOf: [dateTime, { type: 'null' }] },
      jwk: ref('PublicJwk'),
    },
  },
  KeyList: { type: 'object', additionalProperties: false, required: ['keys'], properties: { keys: { type: 'array', items: ref('Key') } } },
  KeyRotated: {
    type: 'object',
    additionalProperties: false,
    required: ['kid', 'activates_at'],
    properties: { kid: str(256), activates_at: dateTime },
  },
};

const jsonBody = (schema: string, description: string) => ({ description, content: { 'application/json': { schema: ref(schema) } } });
const err = (description: string) => jsonBody('Error', description);
/** Answers every authenticated operation may give. */
const common = {
  '400': err('Malformed request (path, query, body).'),
  '401': err('No valid token (`WWW-Authenticate` carries the RFC 6750 challenge).'),
  '403': err('`insufficient_scope`: not an administrator token.'),
  '405': err('Method not allowed (`Allow` lists the methods).'),
  '413': err('Body over 64 KiB.'),
  '500': err('Internal error (no detail).'),
  '503': err('A store is unavailable.'),
};
const withBody = { '415': err('The body is not `application/json`.') };
const notFound = { '404': err('No such client (or user grant store, key store).') };
const notImplemented = { '501': err('The store cannot do this (e.g. no `listClients`).') };
const page = [
  { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
  { name: 'cursor', in: 'query', required: false, schema: { type: 'string', maxLength: 1400 } },
];
const idParam = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string', minLength: 1, maxLength: 256 } });
const clientInput = { required: true, content: { 'application/json': { schema: ref('ClientInput') } } };

const document = {
  openapi: '3.1.0',
  info: {
    title: 'Portcullis admin API',
    version: '1',
    description:
      "Clients, users' grants and signing keys of a Portcullis provider. Authenticate with `Authorization: Bearer` and an operator token or an access token with the `admin` scope of a client marked `administrator`.",
  },
  security: [{ bearer: [] }],
  paths: {
    '/openapi.json': {
      get: {
        operationId: 'getOpenApi',
        summary: 'This document.',
        security: [],
        responses: { '200': { description: 'The document.', content: { 'application/json': { schema: { type: 'object' } } } } },
      },
    },
    '/clients': {
      get: {
        operationId: 'listClients',
        summary: 'Clients, a page at a time, in `client_id` order.',
        parameters: page,
        responses: { '200': jsonBody('ClientList', 'A page of clients.'), ...common, ...notImplemented },
      },
      post: {
        operationId: 'createClient',
        summary: 'Creates a client; a confidential one gets a secret, shown once.',
        requestBody: clientInput,
        responses: {
          '201': jsonBody('ClientWithSecret', 'Created.'),
          ...common,
          ...withBody,
          '409': err('A client with this id exists.'),
          ...notImplemented,
        },
      },
    },
    '/clients/{clientId}': {
      parameters: [idParam('clientId')],
      get: { operationId: 'getClient', responses: { '200': jsonBody('Client', 'The client.'), ...common, ...notFound } },
      put: {
        operationId: 'replaceClient',
        summary: 'Replaces the metadata. The secret is kept; a client that becomes confidential gets one, shown once.',
        requestBody: clientInput,
        responses: { '200': jsonBody('ClientWithSecret', 'Replaced.'), ...common, ...withBody, ...notFound, ...notImplemented },
      },
      delete: {
        operationId: 'deleteClient',
        responses: { '204': { description: 'Deleted.' }, ...common, ...notFound, ...notImplemented },
      },
    },
    '/clients/{clientId}/secret': {
      parameters: [idParam('clientId')],
      post: {
        operationId: 'rotateClientSecret',
        summary: 'A new secret, shown once; the old one stops working at once.',
        responses: {
          '200': jsonBody('SecretRotated', 'The new secret.'),
          ...common,
          ...notFound,
          '409': err('A public client has no secret.'),
          ...notImplemented,
        },
      },
    },
    '/users/{userId}/grants': {
      parameters: [idParam('userId')],
      get: {
        operationId: 'listUserGrants',
        summary: 'What the user granted, per client, a page at a time.',
        parameters: page,
        responses: { '200': jsonBody('UserGrantList', 'A page of grants.'), ...common, ...notImplemented },
      },
      delete: {
        operationId: 'revokeUserGrants',
        summary: 'Revokes every token and code the user granted.',
        responses: { '200': jsonBody('Revoked', 'Revoked.'), ...common, ...notImplemented },
      },
    },
    '/users/{userId}/grants/{clientId}': {
      parameters: [idParam('userId'), idParam('clientId')],
      delete: {
        operationId: 'revokeUserClientGrants',
        summary: 'Revokes every token and code the user granted to one client.',
        responses: { '200': jsonBody('Revoked', 'Revoked.'), ...common, ...notImplemented },
      },
    },
    '/keys': {
      get: {
        operationId: 'listKeys',
        summary: 'The public signing keys of JWT access tokens, with when they sign.',
        responses: { '200': jsonBody('KeyList', 'The keys.'), ...common, ...notFound, ...notImplemented },
      },
    },
    '/keys/rotate': {
      post: {
        operationId: 'rotateKey',
        summary: 'Adds a signing key, published at once, signing after the rotation lead time.',
        responses: { '201': jsonBody('KeyRotated', 'The new key.'), ...common, ...notFound },
      },
    },
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas,
  },
};

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * The OpenAPI 3.1 document of the admin API (frozen), with paths relative to the mount point
 * (`basePath`). The handler serves it at `GET {basePath}/openapi.json` with `servers` set to the
 * base path.
 */
export const adminOpenApi: AdminOpenApiDocument = deepFreeze(document as unknown as AdminOpenApiDocument);
