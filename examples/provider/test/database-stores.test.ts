/**
 * The binding's optional stores on the database (issue 14): signing keys of JWT access tokens and
 * the ephemeral store (pushed authorization requests, DPoP proof ids) come from the database, not
 * from each process's memory.
 *
 * - The default SQLite database with `ACCESS_TOKEN_FORMAT=jwt`: no "kept in this process only"
 *   warning, and the key the first process created is the one a second app on the file publishes.
 * - The same on MongoDB (the binding's wire-protocol test server), plus a pushed request used at
 *   the second app and the purge run over the ephemeral collection.
 * - Two app processes (children, as `pnpm start` runs the app) on one PostgreSQL database with
 *   `GRANT_CACHE=database`: they publish the same JWKS key, a JWT issued by one is introspected
 *   as active by the other, and a request pushed to one is shown, approved and used up at the
 *   other (which then refuses it a second time), its code redeemed at the first. They share
 *   nothing but the database, so this holds only because both stores live there.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { basicAuth } from '@portcullis/binding-testkit';
import { startPostgres } from '@portcullis/binding-testkit/servers';
import { Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMongoServer } from '../../../packages/binding-mongoose/test/mongo-server.js';
import { createApp } from '../src/app.js';
import { parseConfig } from '../src/config.js';
import { authorizeThroughPages, CB, CookieClient, pkce, TEST_SEED, TRICKY_SECRET } from './helpers.js';
import { type Proc, postForm, startProcess } from './processes.js';

const ISSUER = 'http://auth.portcullis.test';
const BASIC = basicAuth('interop-app', TRICKY_SECRET);
const KEY_ENCRYPTION_KEY = randomBytes(32).toString('base64url');
const PROCESS_ONLY = /kept in this process only/;

const children: ChildProcess[] = [];
const stops: (() => Promise<unknown>)[] = [];
let dir: string;
let seedFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-db-stores-'));
  seedFile = join(dir, 'seed.json');
  await writeFile(seedFile, JSON.stringify(TEST_SEED));
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const stop of stops.reverse()) await stop().catch(() => {});
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Jwks {
  keys: { kid: string; x?: string; n?: string }[];
}

const kidOf = (jwt: string) => (JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;

async function metadata(base: string): Promise<Record<string, string>> {
  const r = await fetch(`${base}/.well-known/oauth-authorization-server`);
  expect(r.status).toBe(200);
  return (await r.json()) as Record<string, string>;
}

/** An endpoint of the metadata, at `base` instead of the issuer. */
const at = (base: string, endpoint: string) => endpoint.replace(ISSUER, base);

async function jwks(base: string): Promise<Jwks> {
  const r = await fetch(at(base, (await metadata(base)).jwks_uri!));
  expect(r.status).toBe(200);
  return (await r.json()) as Jwks;
}

describe('the default SQLite database with JWT access tokens', () => {
  it('keeps the signing key in the database: no process-only warning, the same key after a restart', async () => {
    const config = parseConfig(
      {
        PORT: '0',
        ISSUER,
        DATABASE_URL: `sqlite:${join(dir, 'jwt.sqlite')}`,
        SEED_FILE: seedFile,
        DEMO: '0',
        ACCESS_TOKEN_FORMAT: 'jwt',
        KEY_ENCRYPTION_KEY,
      },
      [],
      dir,
    );
    const logs: string[] = [];
    const first = await createApp(config, { log: (l) => logs.push(l) });
    let kid: string;
    try {
      const t = await postForm(`${first.url}/oauth/token`, BASIC, { grant_type: 'client_credentials', scope: 'read' });
      expect(t.status).toBe(200);
      kid = kidOf(String(t.body.access_token));
    } finally {
      await first.close();
    }
    const second = await createApp(config, { log: (l) => logs.push(l) });
    try {
      expect((await jwks(second.url)).keys.map((k) => k.kid)).toContain(kid);
    } finally {
      await second.close();
    }
    expect(logs.join('\n')).not.toMatch(PROCESS_ONLY);
    expect(logs.join('\n')).not.toContain(KEY_ENCRYPTION_KEY);
  });
});

describe('MongoDB with JWT access tokens and PAR', () => {
  it('keeps the signing key and pushed requests in the database', async () => {
    const mongo = await startMongoServer();
    stops.push(() => mongo.stop());
    const config = parseConfig(
      {
        PORT: '0',
        ISSUER,
        DATABASE_URL: `${mongo.url}/dbstores_${randomBytes(4).toString('hex')}`,
        GRANT_CACHE: 'database',
        SEED_FILE: seedFile,
        DEMO: '0',
        ACCESS_TOKEN_FORMAT: 'jwt',
        KEY_ENCRYPTION_KEY,
      },
      [],
      dir,
    );
    const logs: string[] = [];
    const first = await createApp(config, { log: (l) => logs.push(l) });
    stops.push(() => first.close());
    const second = await createApp(config, { log: (l) => logs.push(l) });
    stops.push(() => second.close());
    const t = await postForm(`${first.url}/oauth/token`, BASIC, { grant_type: 'client_credentials', scope: 'read' });
    expect(t.status).toBe(200);
    expect((await jwks(second.url)).keys.map((k) => k.kid)).toContain(kidOf(String(t.body.access_token)));
    const m = await metadata(first.url);
    const { challenge } = pkce();
    const pushed = await postForm(at(first.url, m.pushed_authorization_request_endpoint!), BASIC, {
      response_type: 'code',
      redirect_uri: CB,
      scope: 'read',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    expect(pushed.status).toBe(201);
    const authorize = `/oauth/authorize?${new URLSearchParams({ client_id: 'interop-app', request_uri: String(pushed.body.request_uri) })}`;
    const callback = await authorizeThroughPages(new CookieClient(second.url), authorize);
    expect(callback.searchParams.get('code')).toBeTruthy();
    // The purge covers the ephemeral collection without failing.
    expect((await first.purge()).ran).toBe(true);
    expect(logs.join('\n')).not.toMatch(PROCESS_ONLY);
  }, 120_000);
});

describe('two processes on one PostgreSQL database', () => {
  let a: Proc;
  let b: Proc;

  beforeAll(async () => {
    let serverUrl = process.env.DATABASE_URL_POSTGRES;
    if (!serverUrl) {
      const pg = await startPostgres();
      stops.push(() => pg.stop());
      serverUrl = pg.url;
    }
    const name = `portcullis_dbstores_${randomBytes(6).toString('hex')}`;
    const admin = new Sequelize(serverUrl, { logging: false, pool: { max: 1 } });
    try {
      await admin.query(`CREATE DATABASE "${name}"`);
    } finally {
      await admin.close();
    }
    stops.push(async () => {
      const db = new Sequelize(serverUrl, { logging: false, pool: { max: 1 } });
      try {
        await db.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await db.close();
      }
    });
    const url = new URL(serverUrl);
    url.pathname = `/${name}`;
    const env = {
      ISSUER,
      DATABASE_URL: url.toString(),
      GRANT_CACHE: 'database',
      SEED_FILE: seedFile,
      ACCESS_TOKEN_FORMAT: 'jwt',
      KEY_ENCRYPTION_KEY,
      PAR: 'on',
    };
    // One after the other, like a rolling start.
    a = await startProcess(env, children);
    b = await startProcess(env, children);
  }, 180_000);

  it('publish the same signing key, and a JWT issued by one is active at the other', async () => {
    const t = await postForm(`${a.url}/oauth/token`, BASIC, { grant_type: 'client_credentials', scope: 'read' });
    expect(t.status).toBe(200);
    const token = String(t.body.access_token);
    const kid = kidOf(token);
    const [ja, jb] = [await jwks(a.url), await jwks(b.url)];
    expect(ja.keys.map((k) => k.kid)).toContain(kid);
    expect(jb).toEqual(ja);
    // A token issued by b is signed with the same key (b did not create one of its own).
    const t2 = await postForm(`${b.url}/oauth/token`, BASIC, { grant_type: 'client_credentials', scope: 'read' });
    expect(t2.status).toBe(200);
    expect(kidOf(String(t2.body.access_token))).toBe(kid);
    const intro = await postForm(at(b.url, (await metadata(b.url)).introspection_endpoint!), BASIC, { token });
    expect(intro.status).toBe(200);
    expect(intro.body.active).toBe(true);
  });

  it('a request pushed to one is used at the other, once; the code is redeemed at the first', async () => {
    const m = await metadata(a.url);
    const { verifier, challenge } = pkce();
    const state = randomBytes(8).toString('hex');
    const pushed = await postForm(at(a.url, m.pushed_authorization_request_endpoint!), BASIC, {
      response_type: 'code',
      redirect_uri: CB,
      scope: 'read',
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    expect(pushed.status).toBe(201);
    const requestUri = String(pushed.body.request_uri);
    expect(requestUri).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    const authorize = `/oauth/authorize?${new URLSearchParams({ client_id: 'interop-app', request_uri: requestUri })}`;
    const callback = await authorizeThroughPages(new CookieClient(b.url), authorize);
    expect(callback.searchParams.get('state')).toBe(state);
    const code = callback.searchParams.get('code')!;
    expect(code).toBeTruthy();
    // Used up at b: a refuses it too.
    const again = await fetch(`${a.url}${authorize}`, { redirect: 'manual' });
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('invalid_request_uri');
    const t = await postForm(`${a.url}/oauth/token`, BASIC, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: CB,
      code_verifier: verifier,
    });
    expect(t.status).toBe(200);
    expect(t.body.scope).toBe('read');
  });

  it('neither process warns that keys or pushed requests are kept in its memory', () => {
    for (const p of [a, b]) {
      expect(p.output()).not.toMatch(PROCESS_ONLY);
      expect(p.output()).not.toContain(KEY_ENCRYPTION_KEY);
    }
  });
});
