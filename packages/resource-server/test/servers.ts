/** Real servers on 127.0.0.1 for the suite: a core provider, a JWKS of the test's own, and a protected API. */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type Client,
  createMemoryStores,
  generateClientSecret,
  hashSecret,
  type Lifetimes,
  OAuth2Provider,
  toNodeHandler,
} from '@portcullis/core';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { protectedResourceHandler, requireOAuth, type Verifier, withOAuth } from '../src/index.js';

export const SECRET = generateClientSecret();
export const API_SECRET = generateClientSecret();
const KEK = generateClientSecret();

const clients: Client[] = [
  { id: 'app', secretHash: hashSecret(SECRET), redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read', 'write'] },
  { id: 'api', secretHash: hashSecret(API_SECRET), redirectUris: [], grantTypes: ['client_credentials'], scopes: [], resourceServer: true },
];

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Listens on a free loopback port; `handler` may be set after the port is known. */
export async function listen(): Promise<{ server: Server; url: string; use(h: Handler): void; close(): Promise<void> }> {
  let current: Handler = (_req, res) => res.writeHead(503).end();
  const server = createServer((req, res) => current(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    use(h) {
      current = h;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface ProviderOptions {
  format?: 'jwt' | 'opaque';
  lifetimes?: Lifetimes;
  rotationLeadTime?: number;
  keyCacheTtl?: number;
  audience?: string;
  /** RFC 8707 resources the provider knows (`OAuth2ProviderOptions.resources`). */
  resources?: { uri: string; accessTokenFormat?: 'jwt' | 'opaque' }[];
  /** RFC 9449: DPoP on at the provider (`dpop: { enabled: true }`). */
  dpop?: boolean;
}

/** A core provider served by `toNodeHandler` on its own server. */
export async function startProvider(o: ProviderOptions = {}) {
  const l = await listen();
  const provider = new OAuth2Provider({
    issuer: l.url,
    grants: ['client_credentials'],
    stores: createMemoryStores({ clients }),
    accessTokenFormat: o.format ?? 'jwt',
    ...(o.lifetimes ? { lifetimes: o.lifetimes } : {}),
    ...(o.resources ? { resources: o.resources } : {}),
    ...(o.dpop ? { dpop: { enabled: true } } : {}),
    jwt: {
      keyEncryptionKey: KEK,
      ...(o.rotationLeadTime !== undefined ? { rotationLeadTime: o.rotationLeadTime } : {}),
      ...(o.keyCacheTtl !== undefined ? { keyCacheTtl: o.keyCacheTtl } : {}),
      ...(o.audience !== undefined ? { audience: o.audience } : {}),
    },
  });
  const handler = toNodeHandler(provider);
  l.use((req, res) => void handler(req, res));
  const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
  return {
    provider,
    issuer: l.url,
    close: l.close,
    /** A client_credentials access token; `resource` is the RFC 8707 parameter; `dpop` a proof for the token endpoint. */
    async token(scope = 'read', resource?: string, dpop?: string): Promise<string> {
      const r = await fetch(`${l.url}/oauth/token`, {
        method: 'POST',
        headers: {
          authorization: basic('app', SECRET),
          'content-type': 'application/x-www-form-urlencoded',
          ...(dpop !== undefined ? { dpop } : {}),
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope, ...(resource ? { resource } : {}) }).toString(),
      });
      if (r.status !== 200) throw new Error(`token: ${r.status} ${await r.text()}`);
      const body = (await r.json()) as { access_token: string; token_type: string };
      if (body.token_type !== (dpop !== undefined ? 'DPoP' : 'Bearer')) throw new Error(`token: token_type ${body.token_type}`);
      return body.access_token;
    },
    async revoke(token: string): Promise<void> {
      const r = await fetch(`${l.url}/oauth/revoke`, {
        method: 'POST',
        headers: { authorization: basic('app', SECRET), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }).toString(),
      });
      if (r.status !== 200) throw new Error(`revoke: ${r.status}`);
    },
  };
}

/** A JWKS server with a key of the test's own, to sign tokens with jose directly. */
export async function startOwnIssuer() {
  const l = await listen();
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'own-1', alg: 'ES256', use: 'sig' };
  l.use((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
  return {
    issuer: l.url,
    jwksUri: `${l.url}/jwks`,
    close: l.close,
    /** A token with the RFC 9068 claims, `header` and `claims` overriding them. */
    sign(claims: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({
        iss: l.url,
        aud: 'https://api.example',
        sub: 'app',
        client_id: 'app',
        scope: 'read',
        jti: 'j1',
        iat: now,
        exp: now + 60,
        ...claims,
      })
        .setProtectedHeader({ alg: 'ES256', kid: 'own-1', typ: 'at+jwt', ...header })
        .sign(privateKey);
    },
  };
}

/** The protected API: `/api/read` behind `requireOAuth`, `/api/write` behind `withOAuth`, and RFC 9728 metadata. */
export async function startApi(verifier: Verifier, issuer: string) {
  const l = await listen();
  const read = requireOAuth(verifier, 'read');
  const write = withOAuth(verifier, ['write'], (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(req.oauth));
  });
  const boom = withOAuth(verifier, ['read'], () => {
    throw new Error('route failed');
  });
  const meta = protectedResourceHandler({
    resource: 'https://api.example',
    authorizationServers: [issuer],
    scopesSupported: ['read', 'write'],
  });
  l.use((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/api/read') {
      void read(req, res, (err) => {
        if (err) res.writeHead(502, { 'content-type': 'application/json' }).end('{"from":"next(err)"}');
        else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify((req as { oauth?: unknown }).oauth));
      });
    } else if (path === '/api/write') void write(req, res);
    else if (path === '/api/boom') void boom(req, res);
    else meta(req, res);
  });
  return { url: l.url, close: l.close };
}

/** A GET with raw header lines (`fetch` would join repeated headers). */
export function rawGet(
  url: string,
  headers: [string, string][],
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'GET' });
    const byName = new Map<string, string[]>();
    for (const [k, v] of headers) byName.set(k, [...(byName.get(k) ?? []), v]);
    for (const [k, v] of byName) req.setHeader(k, v.length === 1 ? v[0]! : v);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
