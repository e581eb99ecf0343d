// The store groups: database servers from the testkit's launchers (PostgreSQL, MariaDB, Redis:
// packages/binding-testkit/src/launchers.ts) and the mongo-java-server launcher of the
// binding-mongoose tests (packages/binding-mongoose/test/mongo-server.ts), loaded from their
// TypeScript sources through tsx (run.mjs registers it), each pinned to the load core once it
// runs; the floor and Portcullis rows of each store; and, on PostgreSQL, the round-trip count
// and the cost-growth rows.
import { connect, createServer as createTcpServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { fetchTokens, launch, runGroup } from './measure.mjs';
import { freePort, monitorRedis, pinListener, stop, tempDir, trackDir } from './procs.mjs';
import { AUTHORIZE_PATH, basic, EXCHANGE_BODY, PG, ST } from './scenarios.mjs';

const TESTKIT = '../../packages/binding-testkit/src/launchers.ts';
const MONGO = '../../packages/binding-mongoose/test/mongo-server.ts';

/** A testkit-launched server, tracked for cleanup and pinned to the load core. */
function adopt(ctx, server, name) {
  if (server.dir) trackDir(server.dir);
  const pid = pinListener(server.port, ctx.LOAD_CORE, ctx.pinning);
  ctx.log(`  ${name} on 127.0.0.1:${server.port}${pid ? ` (pid ${pid}, pinned to core ${ctx.LOAD_CORE})` : ''}`);
  return server;
}

async function pgQuery(url, sql, params) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(sql, params);
  } finally {
    await c.end();
  }
}
const dbUrl = (url, db) => url.replace(/\/[^/]*$/, `/${db}`);

/** Starts the servers a store group needs and returns the environment of each instance. */
export async function startStore(ctx, store, cleanups) {
  const testkit = await import(TESTKIT);
  const redis = adopt(ctx, await testkit.startRedis(), 'redis-server');
  cleanups.push(() => redis.stop());
  const common = { REDIS_URL: redis.url };
  if (store === 'pg') {
    const server = adopt(ctx, await testkit.startPostgres(), 'PostgreSQL');
    cleanups.push(() => server.stop());
    for (const db of ['bench_floor', 'bench_portcullis', 'bench_small', 'bench_large']) await pgQuery(server.url, `CREATE DATABASE ${db}`);
    return {
      server,
      redis,
      instances: {
        floor: { ...common, STORE: 'pg', DATABASE_URL: dbUrl(server.url, 'bench_floor') },
        portcullis: { ...common, STORES: 'pg', DATABASE_URL: dbUrl(server.url, 'bench_portcullis') },
        small: { ...common, STORES: 'pg', DATABASE_URL: dbUrl(server.url, 'bench_small') },
        large: { ...common, STORES: 'pg', DATABASE_URL: dbUrl(server.url, 'bench_large') },
      },
    };
  }
  if (store === 'mariadb') {
    const server = adopt(ctx, await testkit.startMariadb(), 'MariaDB');
    cleanups.push(() => server.stop());
    return {
      server,
      redis,
      instances: {
        floor: { ...common, STORE: 'mariadb', DATABASE_URL: dbUrl(server.url, 'bench_floor') },
        portcullis: { ...common, STORES: 'mariadb', DATABASE_URL: server.url },
      },
    };
  }
  if (store === 'sqlite') {
    const dir = tempDir('portcullis-bench-sqlite-');
    return {
      redis,
      instances: {
        floor: { ...common, STORE: 'sqlite', DATABASE_URL: join(dir, 'floor.sqlite') },
        portcullis: { ...common, STORES: 'sqlite', DATABASE_URL: join(dir, 'portcullis.sqlite') },
      },
    };
  }
  if (store === 'mongo') {
    const mongo = await import(MONGO);
    const built = mongo.ensureLauncherBuilt();
    if (built > 0) ctx.log(`  built the mongo-java-server launcher in ${(built / 1000).toFixed(0)} s`);
    const server = adopt(ctx, await mongo.startMongoServer(), 'mongo-java-server');
    cleanups.push(() => server.stop());
    return {
      server,
      redis,
      instances: {
        floor: { ...common, STORE: 'mongo', DATABASE_URL: server.url, MONGO_DB: 'bench_floor' },
        portcullis: { ...common, STORES: 'mongo', DATABASE_URL: server.url, MONGO_DB: 'bench_portcullis' },
      },
    };
  }
  throw new Error(`unknown store ${store}`);
}

/**
 * One store group: its floor and Portcullis rows for client_credentials, the resource check and
 * the code exchange, round-robin in one group; on PostgreSQL also the round trips and the
 * cost-growth rows.
 */
export async function runStore(ctx, store, results) {
  ctx.log(`starting the servers of the ${store} group (pinned to the load core)`);
  const cleanups = [];
  try {
    const { server, redis, instances } = await startStore(ctx, store, cleanups);
    const rows = ST[store];
    await runGroup(ctx, store, [rows.floorCc, rows.cc, rows.floorRes, rows.res, rows.floorEx, rows.ex], {
      instances,
      prepare:
        store === 'pg'
          ? async () => {
              ctx.log('counting round trips');
              results.roundTrips = await countRoundTrips(ctx, instances.portcullis, server, redis);
            }
          : undefined,
    });
    if (store === 'pg') {
      // Cost growth: the same server against 1,000 tokens and against CFG.growthRows tokens,
      // measured round-robin. Each table holds 100 real tokens (fetched by runGroup) plus fillers.
      await runGroup(ctx, 'pg-growth', [PG.resSmall, PG.resLarge, PG.resSmall1, PG.resLarge1], {
        instances,
        prepare: async () => {
          ctx.log(`filling bench_large with ${ctx.CFG.growthRows.toLocaleString('en')} tokens`);
          const t0 = Date.now();
          results.tables = {
            small: await fillTokens(instances.small.DATABASE_URL, 1_000),
            large: await fillTokens(instances.large.DATABASE_URL, ctx.CFG.growthRows),
            fillSeconds: (Date.now() - t0) / 1000,
          };
        },
      });
      results.growth = {
        small50: PG.resSmall.p50,
        large50: PG.resLarge.p50,
        small1: PG.resSmall1.p50,
        large1: PG.resLarge1.p50,
        latencyRatio: PG.resLarge.p50 / PG.resSmall.p50,
        latencyRatio1: PG.resLarge1.p50 / PG.resSmall1.p50,
      };
    }
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  }
}

// ------------------------------------------------------------------------------ PostgreSQL

/** Fills oauth_tokens with random access-token rows until it holds `total` rows. */
async function fillTokens(url, total) {
  const { rows } = await pgQuery(url, 'SELECT count(*)::int AS n FROM oauth_tokens');
  const missing = total - rows[0].n;
  if (missing > 0) {
    await pgQuery(
      url,
      `INSERT INTO oauth_tokens ("tokenHash", "kind", "clientId", "userId", "scopes", "expiresAt", "grantId", "consumedAt", "revokedAt")
       SELECT md5('a' || g || random()) || md5('b' || g), 'access', 'filler', NULL, '["read"]',
              now() + interval '1 day', 'f' || g, NULL, NULL
       FROM generate_series(1, $1::int) AS g`,
      [missing],
    );
  }
  await pgQuery(url, 'VACUUM ANALYZE oauth_tokens');
  const size = await pgQuery(url, `SELECT count(*)::int AS n, pg_total_relation_size('oauth_tokens')::bigint AS bytes FROM oauth_tokens`);
  return { rows: size.rows[0].n, bytes: Number(size.rows[0].bytes) };
}

/** The first word of a statement, upper case. */
const verbOf = (sql) => /^\s*(\w+)/.exec(sql)?.[1]?.toUpperCase() ?? 'other';

/**
 * A loopback proxy in front of PostgreSQL that reads the frontend side of the wire protocol and
 * counts the statements executed: each simple `Query` message, and each `Execute` of the
 * extended protocol (named by the statement its `Bind` names, whose text came in a `Parse`,
 * maybe once for many executions of a prepared statement). What the server is asked to run,
 * whatever the driver or the binding does around it.
 */
async function statementCounter(targetPort) {
  const counts = { total: 0, kinds: {} };
  const count = (verb) => {
    counts.total++;
    counts.kinds[verb] = (counts.kinds[verb] ?? 0) + 1;
  };
  const sockets = new Set();
  const server = createTcpServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    sockets.add(client).add(upstream);
    const statements = new Map(); // prepared statement name -> verb
    let bound = '';
    let started = false;
    let buf = Buffer.alloc(0);
    client.on('data', (chunk) => {
      upstream.write(chunk);
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (!started) {
          // Startup, SSLRequest or GSSENCRequest: int32 length (itself included), no type byte.
          if (buf.length < 8) return;
          const len = buf.readInt32BE(0);
          if (buf.length < len) return;
          if (buf.readInt32BE(4) === 196608) started = true; // protocol 3.0
          buf = buf.subarray(len);
          continue;
        }
        if (buf.length < 5) return;
        const type = String.fromCharCode(buf[0]);
        const len = buf.readInt32BE(1);
        if (buf.length < 1 + len) return;
        const body = buf.subarray(5, 1 + len);
        if (type === 'Q') count(verbOf(body.toString('utf8', 0, body.indexOf(0))));
        else if (type === 'P') {
          const nameEnd = body.indexOf(0);
          statements.set(body.toString('utf8', 0, nameEnd), verbOf(body.toString('utf8', nameEnd + 1, body.indexOf(0, nameEnd + 1))));
        } else if (type === 'B') {
          const portalEnd = body.indexOf(0);
          bound = body.toString('utf8', portalEnd + 1, body.indexOf(0, portalEnd + 1));
        } else if (type === 'E') count(statements.get(bound) ?? 'other');
        buf = buf.subarray(1 + len);
      }
    });
    upstream.on('data', (chunk) => client.write(chunk));
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    counts,
    reset: () => {
      counts.total = 0;
      counts.kinds = {};
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function countBy(names, k) {
  const out = {};
  for (const n of names) out[n] = (out[n] ?? 0) + 1 / k;
  return out;
}

/**
 * Counts the round trips of each request over 20 sequential requests, on a Portcullis server of
 * its own whose database connection goes through `statementCounter`: statements the `pg` driver
 * sends (counted in the server), statements seen on the wire, Redis commands the client sends
 * (counted in the server) and those MONITOR sees.
 */
async function countRoundTrips(ctx, env, pgServer, redis) {
  const proxy = await statementCounter(pgServer.port);
  const url = new URL(env.DATABASE_URL);
  url.port = String(proxy.port);
  const proc = await launch(ctx, 'pc-node', { ...env, DATABASE_URL: url.toString() });
  const base = `http://127.0.0.1:${proc.port}`;
  const stats = async () => (await fetch(`${base}/__stats`, { method: 'POST' })).json();
  const K = 20;
  const phases = {};
  const phase = async (name, fn) => {
    await stats();
    proxy.reset();
    const redisCmds = await monitorRedis(redis.port, fn);
    await sleep(300);
    const s = await stats();
    phases[name] = {
      sql: s.sql / K,
      sqlKinds: { SELECT: s.sqlSelect / K, INSERT: s.sqlInsert / K, UPDATE: s.sqlUpdate / K, other: s.sqlOther / K },
      wire: proxy.counts.total / K,
      wireKinds: Object.fromEntries(Object.entries(proxy.counts.kinds).map(([k, v]) => [k, v / K])),
      redis: s.redis / K,
      redisKinds: Object.fromEntries(Object.entries(s.redisCommands).map(([k, v]) => [k, v / K])),
      monitor: redisCmds.length / K,
      monitorKinds: countBy(redisCmds, K),
    };
  };
  try {
    // One of each first, so a statement prepared once per connection is not counted as per request.
    await fetchTokens(proc.port, '/oauth/token', 10);
    const codes = [];
    await phase('authorize', async () => {
      for (let i = 0; i < K; i++) {
        const r = await fetch(base + AUTHORIZE_PATH, { redirect: 'manual' });
        const code = new URL(r.headers.get('location')).searchParams.get('code');
        if (!code) throw new Error(`no code: ${r.status}`);
        codes.push(code);
      }
    });
    await phase('token', async () => {
      for (const code of codes) {
        const r = await fetch(`${base}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('c1') },
          body: EXCHANGE_BODY.replace('CODE', code),
        });
        if (r.status !== 200) throw new Error(`exchange failed: ${r.status} ${await r.text()}`);
        await r.arrayBuffer();
      }
    });
    const tokens = await fetchTokens(proc.port, '/oauth/token', K);
    await phase('resource', async () => {
      for (const t of tokens) {
        const r = await fetch(`${base}/resource`, { headers: { authorization: `Bearer ${t}` } });
        if (r.status !== 200) throw new Error(`resource check failed: ${r.status}`);
        await r.arrayBuffer();
      }
    });
    await phase('client_credentials', async () => {
      await fetchTokens(proc.port, '/oauth/token', K);
    });
  } finally {
    await stop(proc.child);
    await proxy.close();
  }
  return phases;
}
