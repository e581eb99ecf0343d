/**
 * The example API and the example provider (examples/provider, started as `pnpm start` runs it,
 * with `ACCESS_TOKEN_FORMAT=jwt` and `RESOURCES=<the API>,<another API>`) as two separate
 * processes on 127.0.0.1: a JWT access token asked for the API's resource (RFC 8707) is accepted;
 * no token, a bad token and a token for another resource get 401 with an RFC 6750 challenge
 * carrying `resource_metadata` (RFC 9728); hostile requests get 400/401/405/431 and the process
 * stays up.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../src/config.js';
import { freePort, PROVIDER_DIR, type Proc, startProcess, stopAll } from './processes.js';

const children: ChildProcess[] = [];
let dir = '';
afterAll(async () => {
  await stopAll(children);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const SECRET = randomBytes(24).toString('base64url');
const OTHER = 'https://other-api.example';
let provider: Proc;
let api: Proc;
let audience: string;

async function token(resource: string, scope = 'read'): Promise<string> {
  const r = await fetch(`${provider.url}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`app:${SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope, resource }).toString(),
  });
  const body = (await r.json()) as { access_token?: string };
  if (r.status !== 200 || !body.access_token) throw new Error(`token: ${r.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

async function call(path: string, init: RequestInit & { token?: string } = {}) {
  const { token: t, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (t !== undefined) headers.set('authorization', `Bearer ${t}`);
  const r = await fetch(`${api.url}${path}`, { ...rest, headers });
  const text = await r.text();
  return { status: r.status, challenge: r.headers.get('www-authenticate'), allow: r.headers.get('allow'), body: JSON.parse(text) };
}

/** Exact bytes over a socket (fetch refuses CR, LF and NUL in headers); the status line's code. */
function raw(bytes: string): Promise<number> {
  const { port } = new URL(api.url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), '127.0.0.1');
    let out = '';
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
    s.on('data', (d) => {
      out += d.toString('latin1');
    });
    s.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? 0)));
    s.on('error', reject);
    s.write(bytes, 'latin1');
  });
}

beforeAll(async () => {
  const port = await freePort();
  audience = `http://127.0.0.1:${port}`;
  // The example provider on a throwaway SQLite file, seeded with one client_credentials client.
  dir = await mkdtemp(join(tmpdir(), 'portcullis-resource-api-'));
  const seed = join(dir, 'seed.json');
  await writeFile(
    seed,
    JSON.stringify({
      clients: [{ id: 'app', secret: SECRET, redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read', 'write'] }],
    }),
  );
  provider = await startProcess(
    'src/main.ts',
    'provider',
    {
      PORT: '0',
      HOST: '127.0.0.1',
      DEMO: '0',
      DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}`,
      SEED_FILE: seed,
      GRANT_CACHE: 'memory',
      ACCESS_TOKEN_FORMAT: 'jwt',
      KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
      RESOURCES: `${audience},${OTHER}`,
    },
    children,
    PROVIDER_DIR,
  );
  api = await startProcess(
    'src/main.ts',
    'resource-api',
    { ISSUER: provider.url, AUDIENCE: audience, PORT: String(port), HOST: '127.0.0.1' },
    children,
  );
});

describe('the example API behind @portcullis/resource-server', () => {
  it('a JWT access token for its resource (RFC 8707): 200', async () => {
    const t = await token(audience, 'read');
    expect(t.split('.')).toHaveLength(3);
    const r = await call('/api/whoami', { token: t });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ clientId: 'app', userId: null, scopes: ['read'] });
    expect((await call('/api/things', { token: t })).body).toEqual({ things: ['alpha', 'beta'] });
  });

  it('no token: 401 with resource_metadata; the metadata names the issuer, which issues tokens for it', async () => {
    const r = await call('/api/whoami');
    expect(r.status).toBe(401);
    const metadataUrl = `${audience}/.well-known/oauth-protected-resource`;
    expect(r.challenge).toBe(`Bearer realm="api", resource_metadata="${metadataUrl}"`);
    // A client can start from the challenge alone (RFC 9728 section 5).
    const doc = (await (await fetch(metadataUrl)).json()) as { resource: string; authorization_servers: string[] };
    expect(doc).toMatchObject({ resource: audience, authorization_servers: [provider.url], bearer_methods_supported: ['header'] });
    expect((await call('/api/whoami', { token: await token(doc.resource) })).status).toBe(200);
  });

  it('a bad token (garbage, tampered signature): 401 invalid_token with resource_metadata', async () => {
    const [h, p, s] = (await token(audience)).split('.') as [string, string, string];
    const tampered = `${h}.${p}.${s.slice(0, 8)}${s[8] === 'A' ? 'B' : 'A'}${s.slice(9)}`;
    for (const bad of ['not-a-token', 'a.b.c', tampered]) {
      const r = await call('/api/whoami', { token: bad });
      expect(r.status).toBe(401);
      expect(r.body.error).toBe('invalid_token');
      expect(r.challenge).toMatch(/^Bearer realm="api", error="invalid_token", error_description="[^"]*", resource_metadata="/);
    }
  });

  it('a token for another resource: 401 invalid_token', async () => {
    const r = await call('/api/whoami', { token: await token(OTHER) });
    expect(r.status).toBe(401);
    expect(r.body.error).toBe('invalid_token');
    expect(r.challenge).toContain('error="invalid_token"');
  });

  it('scopes: POST needs write (403 insufficient_scope with read only, 201 with write)', async () => {
    const r = await call('/api/things', { method: 'POST', token: await token(audience, 'read') });
    expect(r.status).toBe(403);
    expect(r.challenge).toContain('error="insufficient_scope"');
    expect(r.challenge).toContain('scope="write"');
    expect((await call('/api/things', { method: 'POST', token: await token(audience, 'read write') })).status).toBe(201);
  });

  it('hostile input: CR, LF and NUL in the header, oversize, repeats, query and body tokens, wrong methods', async () => {
    const t = await token(audience);
    const base = `GET /api/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n`;
    expect(await raw(`${base}Authorization: Bearer ${t}\r\n\r\n`)).toBe(200);
    expect(await raw(`${base}Authorization: Bearer ${t}\rx\r\n\r\n`)).toBe(400);
    expect(await raw(`${base}Authorization: Bearer ${t}\u0000\r\n\r\n`)).toBe(400);
    expect(await raw(`${base}Authorization: Bearer\nInjected: 1\r\n\r\n`)).toBe(400);
    expect(await raw(`${base}Authorization: Bearer ${t}\r\nAuthorization: Bearer ${t}\r\n\r\n`)).toBe(400);
    expect(await raw(`${base}Authorization: Bearer ${'a'.repeat(20_000)}\r\n\r\n`)).toBe(431);
    expect((await call('/api/whoami', { token: 'a'.repeat(9000) })).status).toBe(401);
    expect((await call(`/api/whoami?access_token=${t}`)).status).toBe(400);
    // A form body is not a token method here (RFC 6750 section 2.2 is not offered): no token.
    const form = await call('/api/things', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `access_token=${t}`,
    });
    expect(form.status).toBe(401);
    const del = await call('/api/things', { method: 'DELETE', token: t });
    expect(del.status).toBe(405);
    expect(del.allow).toBe('GET, POST');
    const postMeta = await fetch(`${api.url}/.well-known/oauth-protected-resource`, { method: 'POST', body: 'x' });
    expect(postMeta.status).toBe(405);
    await postMeta.body?.cancel();
    expect((await call('/nope')).status).toBe(404);
    // Repeats: many requests at once, all served; the process is still up.
    const many = await Promise.all(Array.from({ length: 40 }, () => call('/api/whoami', { token: t })));
    expect(many.every((r) => r.status === 200)).toBe(true);
    expect(api.child.exitCode).toBeNull();
  });

  it('configuration: ISSUER and AUDIENCE are required absolute http(s) URLs, without control characters', () => {
    const ok = { ISSUER: 'https://as.example', AUDIENCE: 'https://api.example' };
    expect(parseConfig(ok)).toEqual({ issuer: 'https://as.example', audience: 'https://api.example', host: '127.0.0.1', port: 4000 });
    for (const env of [
      {},
      { ...ok, ISSUER: '' },
      { ...ok, AUDIENCE: 'api.example' },
      { ...ok, AUDIENCE: 'ftp://api.example' },
      { ...ok, AUDIENCE: 'https://api.example\r\nX: y' },
      { ...ok, ISSUER: 'https://as.exa\u0000mple' },
      { ...ok, AUDIENCE: 'https://api.example/#frag' },
      { ...ok, AUDIENCE: `https://api.example/${'a'.repeat(3000)}` },
      { ...ok, PORT: '70000' },
      { ...ok, PORT: '-1' },
    ]) {
      expect(() => parseConfig(env)).toThrow(ConfigError);
    }
  });
});
