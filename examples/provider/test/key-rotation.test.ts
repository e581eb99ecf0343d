/**
 * Rotation without a restart (issue 14): "every process picks up a rotation within a bounded
 * interval (cached key set with a short TTL)". Two app processes (children, as `pnpm start` runs
 * them) share one PostgreSQL database and one issuer, issue JWT access tokens
 * (`ACCESS_TOKEN_FORMAT=jwt`) with the signing keys in the database, and re-read the key set every
 * `KEY_CACHE_TTL` (1 s here; a rotated-in key is published `KEY_ROTATION_LEAD_TIME`, 4 s, before
 * it signs). While client_credentials tokens are issued at both, an operator rotates the key twice
 * with the CLI (`keys rotate`, a third process). Every token is checked at the process that did
 * not issue it: locally with `@portcullis/resource-server` against that process's metadata and
 * JWKS, and by introspection there. A poller reads both JWKS all along, to see that each new key
 * is published by both before it signs and that a retired key stays published while its tokens live.
 *
 * PostgreSQL comes from the testkit's launcher, or from `DATABASE_URL_POSTGRES` when set; the run
 * gets a database of its own, dropped in teardown.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { createHmac, generateKeyPairSync, randomBytes, sign as signWith } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { basicAuth } from '@portcullis/binding-testkit';
import { startPostgres } from '@portcullis/binding-testkit/servers';
import { Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// Not a dependency of this package: the resource server's source, as the workspace builds it.
import { createVerifier, type Verifier } from '../../../packages/resource-server/src/index.js';
import { TEST_SEED, TRICKY_SECRET } from './helpers.js';
import { PACKAGE_DIR, type Proc, postForm, startProcess } from './processes.js';

/** The issuer both processes share (the load balancer's address); no request is ever sent to it. */
const ISSUER = 'http://auth.portcullis.test';
const CLIENT = 'interop-app';
const BASIC = basicAuth(CLIENT, TRICKY_SECRET);
const KEY_CACHE_TTL = 1;
const LEAD_TIME = 4;
const KEK = randomBytes(32).toString('base64url');
/** Upper bound of the rotation loop; it ends as soon as both rotated keys have signed at both processes. */
const LOOP_LIMIT_MS = 60_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Json = Record<string, unknown>;

const children: ChildProcess[] = [];
let dir: string | undefined;
let pg: { url: string; stop(): Promise<void> } | undefined;
let database: string | undefined;
let databaseUrl: string;
let procs: [Proc, Proc];

async function onServer(sql: string): Promise<void> {
  const db = new Sequelize(pg!.url, { logging: false, pool: { max: 1 } });
  try {
    await db.query(sql);
  } finally {
    await db.close();
  }
}

/** The environment of the app processes and of the operator's CLI: one deployment. */
function deploymentEnv(): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    ISSUER,
    ACCESS_TOKEN_FORMAT: 'jwt',
    KEY_ENCRYPTION_KEY: KEK,
    KEY_CACHE_TTL: String(KEY_CACHE_TTL),
    KEY_ROTATION_LEAD_TIME: String(LEAD_TIME),
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-key-rotation-'));
  const seedFile = join(dir, 'seed.json');
  await writeFile(seedFile, JSON.stringify(TEST_SEED));
  if (process.env.DATABASE_URL_POSTGRES) pg = { url: process.env.DATABASE_URL_POSTGRES, stop: async () => {} };
  else pg = await startPostgres();
  database = `portcullis_rotation_${randomBytes(6).toString('hex')}`;
  await onServer(`CREATE DATABASE "${database}"`);
  const url = new URL(pg.url);
  url.pathname = `/${database}`;
  databaseUrl = url.toString();
  const env = { ...deploymentEnv(), SEED_FILE: seedFile, GRANT_CACHE: 'database', STATE_STORE: 'shared' };
  // One after the other, like a rolling start: the second finds the tables and seed in place.
  const a = await startProcess(env, children);
  const b = await startProcess(env, children);
  procs = [a, b];
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (pg) {
    if (database) await onServer(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`).catch(() => {});
    await pg.stop();
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** `pnpm cli <args>` as an operator runs it (node + tsx on the source), in a process of its own. */
function cli(args: string[], env: Record<string, string>): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', 'src/cli.ts', ...args],
      { cwd: PACKAGE_DIR, env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** The JOSE header of a compact JWS, or `null`. */
function headerOf(token: string): Json | null {
  try {
    return JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as Json;
  } catch {
    return null;
  }
}

const kidOf = (token: string): string | null => {
  const kid = headerOf(token)?.kid;
  return typeof kid === 'string' ? kid : null;
};

/** The kids of one process's JWKS; also checks that no key carries a private member. */
async function jwksKids(p: Proc): Promise<string[]> {
  const r = await fetch(`${p.url}/oauth/jwks`);
  const body = (await r.json()) as { keys: Json[] };
  if (r.status !== 200) throw new Error(`JWKS of ${p.url}: HTTP ${r.status}`);
  for (const k of body.keys)
    for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) if (priv in k) throw new Error('private key member');
  return body.keys.map((k) => k.kid as string);
}

/**
 * A verifier against one process, as a resource server would configure it: the issuer, and the
 * JWKS location from that process's metadata (rebased on its loopback address, since the shared
 * issuer's host is the balancer's). It re-reads the JWKS after the key cache TTL at most.
 */
async function verifierFor(p: Proc): Promise<Verifier> {
  const r = await fetch(`${p.url}/.well-known/oauth-authorization-server`);
  expect(r.status).toBe(200);
  const meta = (await r.json()) as Json;
  expect(meta.issuer).toBe(ISSUER);
  expect(meta.jwks_uri).toBe(`${ISSUER}/oauth/jwks`);
  const jwksUri = new URL(new URL(meta.jwks_uri as string).pathname, p.url).href;
  return createVerifier({
    issuer: ISSUER,
    audience: ISSUER,
    jwksUri,
    jwks: { cacheMaxAge: KEY_CACHE_TTL * 1000, cooldownDuration: 200 },
  });
}

const issue = (p: Proc) => postForm(`${p.url}/oauth/token`, BASIC, { grant_type: 'client_credentials', scope: 'read' });
const introspect = (p: Proc, token: string) => postForm(`${p.url}/oauth/introspect`, BASIC, { token });

async function me(p: Proc, token: string): Promise<{ status: number; body: Json }> {
  const r = await fetch(`${p.url}/api/me`, { headers: { authorization: `Bearer ${token}` } });
  const text = await r.text();
  let body: Json = {};
  try {
    body = JSON.parse(text) as Json;
  } catch {
    body = { raw: text.slice(0, 200) };
  }
  return { status: r.status, body };
}

/** Waits (bounded) until `fn` is true; false when the bound passed. */
async function until(fn: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await sleep(100);
  }
  return fn();
}

interface Issued {
  token: string;
  kid: string;
  /** Index of the issuing process. */
  by: number;
  /** When the token request was sent (the token was signed after it). */
  sentAt: number;
}

describe('two processes on one PostgreSQL database: the signing key rotated by the CLI while tokens are issued and verified', () => {
  it('no verification fails, each new key is in both JWKS before it signs, and retired keys stay published', {
    timeout: 180_000,
  }, async () => {
    const [a, b] = procs;
    // The first token creates the first key (bootstrapping: it signs at once). B reads it within the TTL.
    const first = await issue(a);
    expect(first.status).toBe(200);
    const firstKid = kidOf(first.body.access_token as string);
    expect(firstKid).toBeTruthy();
    expect(await until(async () => (await jwksKids(b)).includes(firstKid!), 15_000)).toBe(true);
    const verifiers = [await verifierFor(a), await verifierFor(b)];

    const issued: Issued[] = [];
    const failures: string[] = [];
    /** Each process's JWKS observations: when the answer arrived and what it held. */
    const observed: { at: number; kids: Set<string> }[][] = [[], []];
    let stop = false;

    // Every ~100 ms, both JWKS: what each publishes, and whether a key that signed a token went missing.
    const poller = (async () => {
      while (!stop) {
        for (const i of [0, 1]) {
          const startedAt = Date.now();
          const signedBefore = issued.filter((t) => t.sentAt < startedAt).map((t) => t.kid);
          try {
            const kids = new Set(await jwksKids(procs[i]!));
            observed[i]!.push({ at: Date.now(), kids });
            for (const kid of new Set(signedBefore)) {
              if (!kids.has(kid)) failures.push(`process ${i} stopped publishing ${kid} while tokens it signed live`);
            }
          } catch (err) {
            failures.push(`JWKS of process ${i}: ${(err as Error).message}`);
          }
        }
        await sleep(100);
      }
    })();

    // Two workers, one issuing at A and one at B; each token checked at the other process.
    const worker = async (by: number) => {
      const other = 1 - by;
      while (!stop) {
        const sentAt = Date.now();
        const res = await issue(procs[by]!);
        if (res.status !== 200) {
          failures.push(`issue at process ${by}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
          continue;
        }
        const token = res.body.access_token as string;
        const kid = kidOf(token) ?? '(none)';
        issued.push({ token, kid, by, sentAt });
        const local = await verifiers[other]!.verify(token, ['read']).catch((err: unknown) => ({
          ok: false as const,
          error: `threw ${(err as Error).message}`,
        }));
        if (!local.ok) failures.push(`token of process ${by} (kid ${kid}) refused by the verifier on process ${other}: ${local.error}`);
        else if (local.token.claims.iss !== ISSUER || local.token.clientId !== CLIENT) failures.push(`unexpected claims (kid ${kid})`);
        const info = await introspect(procs[other]!, token);
        if (info.status !== 200 || info.body.active !== true || info.body.client_id !== CLIENT) {
          failures.push(
            `token of process ${by} (kid ${kid}) at process ${other}'s introspection: ${info.status} ${JSON.stringify(info.body)}`,
          );
        }
      }
    };
    const workers = [worker(0), worker(1)];

    /** Whether `kid` has signed tokens at both processes. */
    const signedAtBoth = (kid: string) =>
      issued.some((t) => t.kid === kid && t.by === 0) && issued.some((t) => t.kid === kid && t.by === 1);
    const rotated: string[] = [];
    const cliRuns: string[] = [];
    const deadline = Date.now() + LOOP_LIMIT_MS;
    try {
      await sleep(500);
      for (let n = 0; n < 2 && Date.now() < deadline; n++) {
        const run = await cli(['keys', 'rotate', '--json'], deploymentEnv());
        cliRuns.push(`exit ${run.code}: ${run.stdout.trim()} ${run.stderr.trim().slice(0, 300)}`);
        expect(run.code).toBe(0);
        const out = JSON.parse(run.stdout) as { kid: string; activatesAt: string };
        expect(Date.parse(out.activatesAt)).toBeGreaterThan(Date.now() - LEAD_TIME * 1000);
        rotated.push(out.kid);
        // The next rotation once this key signs at both processes (or the loop's bound passes).
        while (Date.now() < deadline && !signedAtBoth(out.kid)) await sleep(100);
      }
      // A few more tokens under the last key.
      const count = issued.length;
      while (Date.now() < deadline && issued.length < count + 10) await sleep(50);
    } finally {
      stop = true;
      await Promise.all([...workers, poller]);
    }

    const summary = `rotated ${rotated.join(', ')}; CLI: ${cliRuns.join(' | ')}; ${issued.length} tokens`;
    expect(failures, summary).toEqual([]);
    expect(rotated).toHaveLength(2);
    const kids = new Set(issued.map((t) => t.kid));
    expect(kids.size, summary).toBeGreaterThanOrEqual(2);
    // Both rotated keys signed tokens at both processes, after the first key did.
    for (const kid of rotated) expect(signedAtBoth(kid), `${kid}: ${summary}`).toBe(true);
    expect(kids).toEqual(new Set([firstKid!, ...rotated]));

    // Each rotated key was in both processes' JWKS before the first token it signed was asked for.
    for (const kid of rotated) {
      const firstSigned = Math.min(...issued.filter((t) => t.kid === kid).map((t) => t.sentAt));
      for (const i of [0, 1]) {
        const published = observed[i]!.find((o) => o.kids.has(kid));
        expect(published, `${kid} in process ${i}'s JWKS`).toBeDefined();
        expect(published!.at, `${kid} published by process ${i} before it signed`).toBeLessThan(firstSigned);
      }
    }
    // Retired keys are still published (their tokens live for an hour) and their first tokens
    // still verify, at both processes, with verifiers that start from nothing.
    const fresh = [await verifierFor(a), await verifierFor(b)];
    for (const i of [0, 1]) {
      const published = await jwksKids(procs[i]!);
      for (const kid of kids) expect(published).toContain(kid);
      for (const kid of kids) {
        const t = issued.find((x) => x.kid === kid)!;
        const r = await fresh[i]!.verify(t.token, ['read']);
        expect(r.ok, `${kid} at process ${i}`).toBe(true);
        expect((await introspect(procs[i]!, t.token)).body.active).toBe(true);
        expect((await me(procs[i]!, t.token)).status).toBe(200);
      }
    }
  });
});

/** A compact JWS of `header` and `payload` with the signature `sig` (base64url). */
const compact = (header: Json, payload: Json, sig: string) =>
  `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${sig}`;

describe('hostile tokens and CLI misuse on the rotating deployment', () => {
  it('a token signed by an unknown key, a tampered one, alg none or HS256 and garbage headers are refused with 401 invalid_token, never a 5xx', async () => {
    const [a, b] = procs;
    const real = await issue(a);
    expect(real.status).toBe(200);
    const token = real.body.access_token as string;
    const [h, p, s] = token.split('.') as [string, string, string];
    const header = headerOf(token)!;
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Json;
    const published = await jwksKids(a);

    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const es256 = (hdr: Json, pl: Json) => {
      const input = `${Buffer.from(JSON.stringify(hdr)).toString('base64url')}.${Buffer.from(JSON.stringify(pl)).toString('base64url')}`;
      return `${input}.${signWith('sha256', Buffer.from(input), { key: stranger.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    };
    const jwks = (await (await fetch(`${a.url}/oauth/jwks`)).json()) as { keys: Json[] };
    const hs256Secret = Buffer.from(JSON.stringify(jwks.keys[0]));
    const hsInput = `${Buffer.from(JSON.stringify({ ...header, alg: 'HS256' })).toString('base64url')}.${p}`;
    const hostile: Record<string, string> = {
      'unknown kid, unknown key': es256({ ...header, kid: randomBytes(12).toString('base64url') }, payload),
      'published kid, another key': es256(header, payload),
      'every published kid, another key': es256({ ...header, kid: published[published.length - 1] }, payload),
      'payload tampered (scope admin)': `${h}.${Buffer.from(JSON.stringify({ ...payload, scope: 'read admin' })).toString('base64url')}.${s}`,
      'signature of another token': `${h}.${p}.${((await issue(b)).body.access_token as string).split('.')[2]}`,
      'signature cut short': `${h}.${p}.${s.slice(0, -8)}`,
      'alg none': compact({ ...header, alg: 'none' }, payload, ''),
      'alg HS256 keyed with the public JWK': `${hsInput}.${createHmac('sha256', hs256Secret).update(hsInput).digest('base64url')}`,
      'kid with path and control characters': es256({ ...header, kid: '../../../etc/passwd\u0000\r\n' }, payload),
      'kid 4000 characters': es256({ ...header, kid: 'k'.repeat(4000) }, payload),
      'kid an object': es256({ ...header, kid: { $ne: null } }, payload),
      'header not JSON': `${Buffer.from('{"alg":').toString('base64url')}.${p}.${s}`,
      'three dots of nothing': '..',
    };
    const verifier = await verifierFor(b);
    for (const [name, bad] of Object.entries(hostile)) {
      for (const proc of [a, b]) {
        const r = await me(proc, bad);
        expect(r.status, name).toBe(401);
        expect(r.body.error, name).toBe('invalid_token');
        const info = await introspect(proc, bad);
        expect(info.status, name).toBe(200);
        expect(info.body, name).toEqual({ active: false });
      }
      const v = await verifier.verify(bad, ['read']);
      expect(v.ok, name).toBe(false);
      if (!v.ok) {
        expect(v.status, name).toBe(401);
        expect(v.error, name).toBe('invalid_token');
      }
    }
    // The real token is untouched by all of that.
    expect((await me(b, token)).status).toBe(200);
    expect((await verifier.verify(token, ['read'])).ok).toBe(true);
  });

  it('keys rotate refuses without the key-encryption key, with a malformed or a wrong one or with arguments, and changes nothing', async () => {
    const before = (await jwksKids(procs[0])).sort();
    const { KEY_ENCRYPTION_KEY: _kek, ...noKek } = deploymentEnv();
    // With ACCESS_TOKEN_FORMAT=jwt the configuration itself is refused; without it, the command.
    const missing = await cli(['keys', 'rotate'], noKek);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/KEY_ENCRYPTION_KEY is required for JWT access tokens/);
    const { ACCESS_TOKEN_FORMAT: _format, ...opaque } = noKek;
    const missingOpaque = await cli(['keys', 'rotate'], opaque);
    expect(missingOpaque.code).toBe(1);
    expect(missingOpaque.stderr).toMatch(/keys rotate needs KEY_ENCRYPTION_KEY/);
    const malformed = 'not-a-key-but-a-secret-looking-string-123456';
    const bad = await cli(['keys', 'rotate'], { ...deploymentEnv(), KEY_ENCRYPTION_KEY: malformed });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/KEY_ENCRYPTION_KEY must be 32 random bytes/);
    expect(bad.stderr + bad.stdout).not.toContain(malformed);
    const extra = await cli(['keys', 'rotate', 'now'], deploymentEnv());
    expect(extra.code).toBe(2);
    expect(extra.stderr).toMatch(/keys rotate takes no arguments/);
    const leadTooShort = await cli(['keys', 'rotate'], { ...deploymentEnv(), KEY_ROTATION_LEAD_TIME: '1' });
    expect(leadTooShort.code).toBe(1);
    expect(leadTooShort.stderr).toMatch(/KEY_ROTATION_LEAD_TIME \(1s\) must be longer than KEY_CACHE_TTL/);
    // A well-formed key-encryption key that is not the app's: core refuses before adding a key
    // no process could decrypt.
    const otherKek = Buffer.alloc(32, 0x5a).toString('base64url');
    const wrongKek = await cli(['keys', 'rotate'], { ...deploymentEnv(), KEY_ENCRYPTION_KEY: otherKek });
    expect(wrongKek.code).toBe(1);
    expect(wrongKek.stderr).toMatch(/key-encryption key does not open the signing keys in the store/);
    expect(wrongKek.stderr + wrongKek.stdout).not.toContain(otherKek);
    for (const run of [missing, missingOpaque, bad, extra, leadTooShort, wrongKek]) expect(run.stderr + run.stdout).not.toContain(KEK);
    // Nothing was added: both processes publish what they did (after their caches expired).
    await sleep(KEY_CACHE_TTL * 1000 + 200);
    expect((await jwksKids(procs[0])).sort()).toEqual(before);
    expect((await jwksKids(procs[1])).sort()).toEqual(before);
  });
});
