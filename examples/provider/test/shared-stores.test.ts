/**
 * STATE_STORE=shared on the other store pairs: three app processes (children, as `pnpm start`
 * runs the app) on
 *
 * - one MariaDB and a three-master Redis Cluster (grant cache and shared state on the cluster);
 * - one MongoDB (the binding's wire-protocol test server) and memcached (grant cache on memcached,
 *   shared state on MongoDB).
 *
 * On each: a browser flow whose every request goes to the next process (login, consent, callback,
 * token, refresh, revoke), and 200 concurrent redemptions of one code spread over the three with
 * exactly one 200 and 199 `400 invalid_grant`.
 *
 * The cluster through the app's own setting: `GRANT_CACHE=redis://<one master>` and
 * `REDIS_CLUSTER_NODES=<the other two>`, so the grant cache and the shared state use node-redis
 * cluster clients. The test checks that keys landed on more than one master, and that bad
 * `REDIS_CLUSTER_NODES` values are refused at start with a message naming the setting.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { basicAuth } from '@portcullis/binding-testkit';
import { startMariadb, startMemcached, startRedisCluster } from '@portcullis/binding-testkit/servers';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMongoServer } from '../../../packages/binding-mongoose/test/mongo-server.js';
import { ConfigError, parseConfig } from '../src/config.js';
import { CB, TEST_SEED, TRICKY_SECRET } from './helpers.js';
import { authorizeCode, type Proc, postForm, RoundRobinBrowser, startProcess } from './processes.js';

const ISSUER = 'http://auth.portcullis.test';
const CLIENT = 'interop-app';
const BASIC = basicAuth(CLIENT, TRICKY_SECRET);

const children: ChildProcess[] = [];
const stops: (() => Promise<void>)[] = [];
let dir: string;
let seedFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-shared-stores-'));
  seedFile = join(dir, 'seed.json');
  await writeFile(seedFile, JSON.stringify(TEST_SEED));
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const stop of stops.reverse()) await stop().catch(() => {});
  if (dir) await rm(dir, { recursive: true, force: true });
});

const baseEnv = () => ({
  ISSUER,
  STATE_STORE: 'shared',
  SEED_FILE: seedFile,
  // The 200 redemptions all come from 127.0.0.1, and all of them fail but one.
  RATE_LIMIT_MAX_FAILURES_PER_IP: '0',
});

/** The two checks, on three processes already started. */
function sharedStoreCases(three: () => readonly Proc[]) {
  it('serves a browser flow whose every request goes to the next process: login, consent, callback, token, refresh, revoke', async () => {
    const urls = three().map((p) => p.url);
    const b = new RoundRobinBrowser(urls);
    const { code, verifier, state, returnedState, iss } = await authorizeCode(b, CLIENT);
    expect(returnedState).toBe(state);
    expect(iss).toBe(ISSUER);
    expect(new Set(b.served)).toEqual(new Set(urls));
    const token = await postForm(`${urls[0]}/oauth/token`, BASIC, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: CB,
      code_verifier: verifier,
    });
    expect(token.status).toBe(200);
    const access = token.body.access_token as string;
    expect((await postForm(`${urls[1]}/oauth/introspect`, BASIC, { token: access })).body).toMatchObject({
      active: true,
      client_id: CLIENT,
    });
    const refreshed = await postForm(`${urls[1]}/oauth/token`, BASIC, {
      grant_type: 'refresh_token',
      refresh_token: token.body.refresh_token as string,
    });
    expect(refreshed.status).toBe(200);
    const refresh = refreshed.body.refresh_token as string;
    expect((await postForm(`${urls[2]}/oauth/revoke`, BASIC, { token: refresh })).status).toBe(200);
    expect((await postForm(`${urls[0]}/oauth/introspect`, BASIC, { token: refresh })).body).toEqual({ active: false });
  });

  it('200 concurrent redemptions of one code spread over the three: exactly one 200, every other 400 invalid_grant', async () => {
    const urls = three().map((p) => p.url);
    const { code, verifier } = await authorizeCode(new RoundRobinBrowser(urls), CLIENT, 'read');
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        postForm(`${urls[i % 3]}/oauth/token`, BASIC, {
          grant_type: 'authorization_code',
          code,
          redirect_uri: CB,
          code_verifier: verifier,
        }),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    const losers = results.filter((r) => r.status !== 200);
    expect(losers).toHaveLength(199);
    for (const r of losers) expect([r.status, r.body.error]).toEqual([400, 'invalid_grant']);
  });
}

describe('three processes on one MariaDB and a three-master Redis Cluster, STATE_STORE=shared', () => {
  let procs: Proc[] = [];
  let nodes: readonly { host: string; port: number }[];

  beforeAll(async () => {
    const [maria, cluster] = await Promise.allSettled([startMariadb(), startRedisCluster()]);
    if (maria.status === 'fulfilled') stops.push(() => maria.value.stop());
    if (cluster.status === 'fulfilled') stops.push(() => cluster.value.stop());
    for (const r of [maria, cluster]) if (r.status === 'rejected') throw r.reason;
    nodes = (cluster as PromiseFulfilledResult<{ nodes: typeof nodes }>).value.nodes;
    const env = {
      ...baseEnv(),
      DATABASE_URL: (maria as PromiseFulfilledResult<{ url: string }>).value.url,
      // The URL names the first master (and the scheme and credentials); the setting the other two.
      GRANT_CACHE: `redis://${nodes[0]!.host}:${nodes[0]!.port}`,
      REDIS_CLUSTER_NODES: nodes
        .slice(1)
        .map((n) => `${n.host}:${n.port}`)
        .join(','),
    };
    procs = await Promise.all([0, 1, 2].map(() => startProcess(env, children)));
    for (const p of procs) {
      expect(p.output()).toMatch(/"database":"mariadb".*"grantCache":"redis cluster \(3 seed nodes\)".*"state":"redis cluster"/);
    }
  });

  sharedStoreCases(() => procs);

  it('spread the codes and sessions over more than one master', async () => {
    const sizes: number[] = [];
    for (const n of nodes) {
      const c = createClient({ url: `redis://${n.host}:${n.port}` });
      c.on('error', () => {});
      await c.connect();
      try {
        sizes.push(await c.dbSize());
      } finally {
        c.destroy();
      }
    }
    expect(sizes.filter((s) => s > 0).length).toBeGreaterThan(1);
  });
});

describe('REDIS_CLUSTER_NODES', () => {
  const parse = (env: Record<string, string>) => parseConfig({ DATABASE_URL: 'sqlite::memory:', ...env }, [], '/');
  it('lists host:port seed nodes for GRANT_CACHE=redis://...; repeats are dropped', () => {
    const c = parse({
      GRANT_CACHE: 'rediss://u:p@10.0.0.1:7000',
      REDIS_CLUSTER_NODES: ' 10.0.0.2:7001,redis-3.internal:7002,10.0.0.2:7001 ',
    });
    expect(c.grantCache).toEqual({
      type: 'redis',
      url: 'rediss://u:p@10.0.0.1:7000',
      clusterNodes: ['10.0.0.2:7001', 'redis-3.internal:7002'],
    });
    expect(parse({ GRANT_CACHE: 'redis://a:1' }).grantCache).toEqual({ type: 'redis', url: 'redis://a:1' });
  });
  it('refuses hostile or unusable values with a ConfigError naming the setting, never echoing a password', () => {
    const bad: Record<string, string>[] = [
      { GRANT_CACHE: 'memory', REDIS_CLUSTER_NODES: 'a:1' },
      { GRANT_CACHE: 'memcached://a:1', REDIS_CLUSTER_NODES: 'a:1' },
      { GRANT_CACHE: 'redis://a:1', REDIS_CLUSTER_NODES: ',,' },
      { GRANT_CACHE: 'redis://a:1', REDIS_CLUSTER_NODES: 'a' },
      { GRANT_CACHE: 'redis://a:1', REDIS_CLUSTER_NODES: 'a:99999' },
      { GRANT_CACHE: 'redis://a:1', REDIS_CLUSTER_NODES: 'a:1\r\nSET x y' },
      { GRANT_CACHE: 'redis://a:1', REDIS_CLUSTER_NODES: 'a\u0000:1' },
      { GRANT_CACHE: 'redis://a:1', REDIS_CLUSTER_NODES: 'user:pw@a:1' },
      { GRANT_CACHE: 'redis://a:1', REDIS_CLUSTER_NODES: `${'a'.repeat(300)}:1` },
      { GRANT_CACHE: 'redis://a:1', REDIS_CLUSTER_NODES: Array.from({ length: 101 }, (_, i) => `n${i}:1`).join(',') },
      { GRANT_CACHE: 'redis://:s3cret-pw@a:1/2', REDIS_CLUSTER_NODES: 'b:1' },
    ];
    for (const env of bad) {
      let err: unknown;
      try {
        parse(env);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(env).slice(0, 100)).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(/REDIS_CLUSTER_NODES|GRANT_CACHE/);
      expect((err as Error).message).not.toContain('s3cret-pw');
      expect((err as Error).message.length).toBeLessThan(300);
    }
  });
});

describe('three processes on one MongoDB (wire-protocol test server) and memcached, STATE_STORE=shared', () => {
  let procs: Proc[] = [];

  beforeAll(async () => {
    const [mongo, memcached] = await Promise.allSettled([startMongoServer(), startMemcached()]);
    if (mongo.status === 'fulfilled') stops.push(() => mongo.value.stop());
    if (memcached.status === 'fulfilled') stops.push(() => memcached.value.stop());
    for (const r of [mongo, memcached]) if (r.status === 'rejected') throw r.reason;
    const env = {
      ...baseEnv(),
      DATABASE_URL: `${(mongo as PromiseFulfilledResult<{ url: string }>).value.url}/portcullis_shared`,
      GRANT_CACHE: `memcached://${(memcached as PromiseFulfilledResult<{ address: string }>).value.address}`,
    };
    procs = await Promise.all([0, 1, 2].map(() => startProcess(env, children)));
    for (const p of procs)
      expect(p.output()).toMatch(/"database":"mongodb".*"grantCache":"memcached \(1 servers\)".*"state":"database \(mongodb\)"/);
  });

  sharedStoreCases(() => procs);
});
