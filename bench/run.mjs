#!/usr/bin/env node
// `pnpm bench`: Portcullis next to bare node:http, Express, oidc-provider and
// @node-oauth/oauth2-server, in one run, with ratios. A script, not a test: it asserts nothing.
//
//   pnpm bench                      full run (about 15 minutes)
//   pnpm bench --quick              about 2 minutes: one round of 2 s runs, 100,000 rows for cost
//                                   growth, 100,000 tokens/codes for memory (a smoke run)
//   pnpm bench --only token,pg      groups: token resource introspection exchange pg memory secret
//   pnpm bench --rounds 7           rounds per group (default 5; --quick: 1)
//   pnpm bench --out report.md      also write the report to a file
//   pnpm bench --no-pin             do not pin with taskset (machines with one core)
//   pnpm bench --source             run Portcullis from its TypeScript sources through tsx instead
//                                   of the built dist/ (tsx adds a few per cent: esbuild keepNames)
//
// Each server is its own child process pinned to core 0 (`taskset -c 0`); wrk (one thread, 50
// connections, loopback) is pinned to core 1, and so are PostgreSQL and Redis. Within a group
// the runs go round-robin over the servers, so a noisy moment hits all of them alike; every round
// starts fresh server processes and warms each up first; the table shows medians.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freePort, killAll, monitorRedis, runToEnd, startPostgres, startRedis, startServer, stop, tempDir } from './lib/procs.mjs';
import { wrk } from './lib/wrk.mjs';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ALL_GROUPS = ['token', 'resource', 'introspection', 'exchange', 'pg', 'memory', 'secret'];

// ------------------------------------------------------------------------------ options

function parseArgs(argv) {
  const o = { quick: false, only: null, out: null, pin: true, source: false, rounds: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') continue;
    else if (a === '--quick') o.quick = true;
    else if (a === '--no-pin') o.pin = false;
    else if (a === '--source') o.source = true;
    else if (a === '--only') o.only = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a.startsWith('--only=')) o.only = a.slice(7).split(',').filter(Boolean);
    else if (a === '--out') o.out = argv[++i];
    else if (a === '--rounds') {
      o.rounds = Number(argv[++i]);
      if (!Number.isInteger(o.rounds) || o.rounds < 1) throw new Error('--rounds needs a positive integer');
    } else if (a === '--help' || a === '-h') {
      console.log(
        readFileSync(fileURLToPath(import.meta.url), 'utf8')
          .split('\n')
          .slice(1, 13)
          .join('\n')
          .replace(/^\/\/ ?/gm, ''),
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a} (see --help)`);
  }
  for (const g of o.only ?? []) if (!ALL_GROUPS.includes(g)) throw new Error(`unknown group ${g}; groups: ${ALL_GROUPS.join(' ')}`);
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const CFG = opts.quick
  ? { warm: 1, seconds: 2, runs: 1, growthRows: 100_000, memTokens: 100_000, flood: 100_000 }
  : { warm: 1, seconds: 4, runs: 5, growthRows: 1_000_000, memTokens: 1_000_000, flood: 1_000_000 };
if (opts.rounds) CFG.runs = opts.rounds;
const CONNECTIONS = 50;
const SERVER_CORE = 0;
const LOAD_CORE = 1;
const groups = new Set(opts.only ?? ALL_GROUPS);

// ------------------------------------------------------------------------------ cleanup

let cleaning = false;
function bail(code) {
  if (cleaning) return;
  cleaning = true;
  killAll('SIGKILL');
  process.exit(code);
}
process.on('exit', () => killAll('SIGKILL'));
process.on('SIGINT', () => {
  console.error('\ninterrupted: stopping every child process');
  bail(130);
});
process.on('SIGTERM', () => bail(143));
process.on('unhandledRejection', (err) => {
  console.error(err);
  bail(1);
});
process.on('uncaughtException', (err) => {
  console.error(err);
  bail(1);
});

// ------------------------------------------------------------------------------ preflight

function which(bin) {
  try {
    return execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}
if (!which('wrk')) throw new Error('wrk not found: install the Debian package `wrk` (scripts/apt-packages.txt)');
const nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
const pinning = opts.pin && nproc >= 2 && Boolean(which('taskset'));
if (opts.pin && !pinning) console.error('note: not pinning (needs taskset and at least 2 cores)');

const cpuModel = (() => {
  try {
    const m = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return m ? m[1].trim() : (cpus()[0]?.model ?? 'unknown');
  } catch {
    return cpus()[0]?.model ?? 'unknown';
  }
})();
const wrkVersion = (spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout ?? 'wrk').split('\n')[0].split(' Copyright')[0].trim();
const loadStart = loadavg();
const startedAt = new Date();
const log = (msg) => console.error(`[bench ${((Date.now() - startedAt.getTime()) / 1000).toFixed(0).padStart(4)}s] ${msg}`);

// ------------------------------------------------------------------------------ build

const WORKSPACE = join(BENCH_DIR, '..');
const PORTCULLIS_PACKAGES = ['core', 'grant-cache-memory', 'grant-cache-redis', 'binding-sequelize'];

function newestMtime(dir) {
  let newest = 0;
  for (const name of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, name.name);
    newest = Math.max(newest, name.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * Portcullis runs from its built dist/ (what users install), so it is measured without tsx.
 * Builds each package whose dist/ is missing or older than its src/.
 */
function ensureBuilt() {
  for (const name of PORTCULLIS_PACKAGES) {
    const dir = join(WORKSPACE, 'packages', name);
    const built = join(dir, 'dist', 'index.js');
    if (existsSync(built) && statSync(built).mtimeMs >= newestMtime(join(dir, 'src'))) continue;
    log(`building @portcullis/${name} (dist/ is missing or older than src/)`);
    const r = spawnSync('pnpm', ['--filter', `@portcullis/${name}`, 'build'], { cwd: WORKSPACE, encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) {
      throw new Error(
        `could not build @portcullis/${name} (run with --source to use the TypeScript sources instead):\n${r.stdout}${r.stderr}`,
      );
    }
  }
}

/** Node flags for processes that load Portcullis: none for dist/, tsx and the source condition for --source. */
function portcullisNodeArgs() {
  return opts.source ? ['--conditions=source', '--import', 'tsx'] : [];
}

// ------------------------------------------------------------------------------ servers

const SECRET = 's3cret-for-the-benchmark';
const basic = (id) => `Basic ${Buffer.from(`${id}:${SECRET}`).toString('base64')}`;
const REDIRECT = encodeURIComponent('https://app.example/cb');
// RFC 7636 appendix B verifier and challenge: every exchange uses PKCE S256.
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
const AUTHORIZE_PATH = `/oauth/authorize?response_type=code&client_id=c1&redirect_uri=${REDIRECT}&scope=read&state=s&code_challenge=${CHALLENGE}&code_challenge_method=S256`;
const EXCHANGE_BODY = `grant_type=authorization_code&code=CODE&redirect_uri=${REDIRECT}&code_verifier=${VERIFIER}`;
const CC_BODY = 'grant_type=client_credentials&scope=read';

const SERVERS = {
  'bare-hello': { label: 'bare `node:http` hello (JSON)', file: 'servers/bare-hello.mjs' },
  'bare-token': { label: 'bare `node:http`: 32 random bytes + HMAC + Map set', file: 'servers/bare-token.mjs' },
  'express-hello': { label: 'Express 5 hello', file: 'servers/express-hello.mjs' },
  oidc: { label: 'oidc-provider 9 (memory adapter)', file: 'servers/oidc-provider.mjs', tokenPath: '/token' },
  'node-oauth2': {
    label: '@node-oauth/oauth2-server 5.3 + Express (memory model)',
    file: 'servers/node-oauth2-server.mjs',
    tokenPath: '/oauth/token',
  },
  'pc-node': {
    label: 'Portcullis, `node:http` adapter',
    portcullis: true,
    file: 'servers/portcullis.mjs',
    env: { ADAPTER: 'node' },
    tokenPath: '/oauth/token',
  },
  'pc-express': {
    label: 'Portcullis, Express 5 adapter',
    portcullis: true,
    file: 'servers/portcullis.mjs',
    env: { ADAPTER: 'express' },
    tokenPath: '/oauth/token',
  },
  'pc-fetch': {
    label: 'Portcullis, Fetch adapter (via `node:http`)',
    portcullis: true,
    file: 'servers/portcullis.mjs',
    env: { ADAPTER: 'fetch' },
    tokenPath: '/oauth/token',
  },
};

async function launch(key, extraEnv = {}) {
  const s = SERVERS[key];
  const port = await freePort();
  const node = [process.execPath, ...(s.portcullis ? portcullisNodeArgs() : []), join(BENCH_DIR, s.file)];
  const cmd = [...(pinning ? ['taskset', '-c', String(SERVER_CORE)] : []), ...node];
  const env = { ...process.env, NODE_ENV: 'production', PORT: String(port), ...s.env, ...extraEnv };
  const { child } = await startServer(cmd[0], cmd.slice(1), { env, cwd: BENCH_DIR, timeoutMs: 60_000 });
  return { key, port, child };
}

async function fetchTokens(port, path, n, clientId = 'c1') {
  const out = [];
  for (let i = 0; i < n; i++) {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(clientId) },
      body: CC_BODY,
    });
    const body = await r.json();
    if (!body.access_token) throw new Error(`no token from 127.0.0.1:${port}${path}: ${JSON.stringify(body)}`);
    out.push(body.access_token);
  }
  return out;
}

// ------------------------------------------------------------------------------ entries and groups

/** One measured row: a server doing one scenario. */
function entry(id, server, scenario, load, extra = {}) {
  return { id, server, scenario, load, stores: 'memory', connections: CONNECTIONS, runs: [], ...extra };
}
const get = (path) => ({ BENCH_MODE: 'get', BENCH_PATH: path });
const post = (path, body, auth) => ({ BENCH_MODE: 'post', BENCH_PATH: path, BENCH_BODY: body, BENCH_AUTH: auth });
const bearer = () => ({ BENCH_MODE: 'bearer', BENCH_PATH: '/resource' });
const introspect = (path) => ({ BENCH_MODE: 'introspect', BENCH_PATH: path, BENCH_AUTH: basic('c1') });
const exchange = () => ({
  BENCH_MODE: 'exchange',
  BENCH_PATH: AUTHORIZE_PATH,
  BENCH_AUTH: basic('c1'),
  BENCH_TOKEN_PATH: '/oauth/token',
  BENCH_TOKEN_BODY: EXCHANGE_BODY,
});

const S = {
  hello: 'hello (GET)',
  minimal: 'minimal token (POST)',
  cc: 'client_credentials token',
  resource: 'bearer-protected resource',
  introspection: 'introspection',
  exchange: 'code exchange (authorize + token)',
};

const E = {
  bareHello: entry('bare-hello', 'bare-hello', S.hello, get('/')),
  bareToken: entry('bare-token', 'bare-token', S.minimal, post('/token', CC_BODY)),
  expressHello: entry('express-hello', 'express-hello', S.hello, get('/hello')),
  oidcCc: entry('oidc-cc', 'oidc', S.cc, post('/token', CC_BODY, basic('c1'))),
  oauth2Cc: entry('oauth2-cc', 'node-oauth2', S.cc, post('/oauth/token', CC_BODY, basic('c1'))),
  pcNodeCc: entry('pc-node-cc', 'pc-node', S.cc, post('/oauth/token', CC_BODY, basic('c1'))),
  pcExpressCc: entry('pc-express-cc', 'pc-express', S.cc, post('/oauth/token', CC_BODY, basic('c1'))),
  pcFetchCc: entry('pc-fetch-cc', 'pc-fetch', S.cc, post('/oauth/token', CC_BODY, basic('c1'))),
  pcNodeCcScrypt: entry('pc-node-cc-scrypt', 'pc-node', `${S.cc}, scrypt-hashed secret`, post('/oauth/token', CC_BODY, basic('c-scrypt')), {
    timeoutS: 60,
    whole: true,
  }),
  oauth2Res: entry('oauth2-res', 'node-oauth2', S.resource, bearer(), { tokens: true }),
  pcNodeRes: entry('pc-node-res', 'pc-node', S.resource, bearer(), { tokens: true }),
  pcExpressRes: entry('pc-express-res', 'pc-express', S.resource, bearer(), { tokens: true, note: ' — `requireOAuth` middleware' }),
  pcExpressRoute: entry(
    'pc-express-route',
    'pc-express',
    S.resource,
    { ...bearer(), BENCH_PATH: '/resource-route' },
    {
      tokens: true,
      note: ' — `withOAuth` route handler',
    },
  ),
  pcFetchRes: entry('pc-fetch-res', 'pc-fetch', S.resource, bearer(), { tokens: true }),
  oidcIntro: entry('oidc-intro', 'oidc', S.introspection, introspect('/token/introspection'), { tokens: true }),
  pcNodeIntro: entry('pc-node-intro', 'pc-node', S.introspection, introspect('/oauth/introspect'), { tokens: true }),
  pcExpressIntro: entry('pc-express-intro', 'pc-express', S.introspection, introspect('/oauth/introspect'), { tokens: true }),
  pcFetchIntro: entry('pc-fetch-intro', 'pc-fetch', S.introspection, introspect('/oauth/introspect'), { tokens: true }),
  pcNodeEx: entry('pc-node-ex', 'pc-node', S.exchange, exchange(), { metric: 'exchanges' }),
  pcExpressEx: entry('pc-express-ex', 'pc-express', S.exchange, exchange(), { metric: 'exchanges' }),
  pcFetchEx: entry('pc-fetch-ex', 'pc-fetch', S.exchange, exchange(), { metric: 'exchanges' }),
};
const PG_LABEL = 'PostgreSQL + Redis';
const PG = {
  resSmall: entry('pg-res-small', 'pc-node', S.resource, bearer(), { tokens: true, instance: 'small', stores: PG_LABEL }),
  resLarge: entry('pg-res-large', 'pc-node', S.resource, bearer(), { tokens: true, instance: 'large', stores: PG_LABEL }),
  resSmall1: entry('pg-res-small-c1', 'pc-node', `${S.resource}, 1 connection`, bearer(), {
    tokens: true,
    instance: 'small',
    connections: 1,
    stores: PG_LABEL,
  }),
  resLarge1: entry('pg-res-large-c1', 'pc-node', `${S.resource}, 1 connection`, bearer(), {
    tokens: true,
    instance: 'large',
    connections: 1,
    stores: PG_LABEL,
  }),
  ex: entry('pg-ex', 'pc-node', S.exchange, exchange(), { metric: 'exchanges', instance: 'small', stores: PG_LABEL }),
  cc: entry('pg-cc', 'pc-node', S.cc, post('/oauth/token', CC_BODY, basic('c1')), { instance: 'small', stores: PG_LABEL }),
};

// ------------------------------------------------------------------------------ running a group

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
/** CPU time (user + system, in clock ticks) a process has used so far, all its threads included. */
function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** user + nice + system ticks of one core so far (from /proc/stat). */
function coreTicks(core) {
  const line = readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`cpu${core} `));
  if (!line) return { busy: 0, total: 0 };
  const f = line.split(/\s+/).slice(1).map(Number);
  return { busy: f[0] + f[1] + f[2], total: f.reduce((a, b) => a + b, 0) };
}
/**
 * Waits (at most 60 s) until a server has finished the requests still queued when wrk stopped,
 * e.g. scrypt checks, so they do not eat into the next run.
 */
async function drain(pid) {
  const deadline = Date.now() + 60_000;
  let last = cpuTicks(pid);
  while (Date.now() < deadline) {
    await sleep(100);
    const now = cpuTicks(pid);
    if (now - last <= 1) return;
    last = now;
  }
}

/** Share of the server core that other processes used during each measured run. */
const foreignShares = [];

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const value = (e, r) => (e.metric === 'exchanges' ? r.exchangesPerSec : r.rps);

/** Seconds per slice of a measured run. */
const SLICE_S = 1;

/** One run's figures from its slices: totals over the summed duration, median p50. */
function mergeSlices(parts) {
  const sum = (f) => parts.reduce((n, p) => n + f(p), 0);
  const secs = sum((p) => p.raw.duration_us) / 1e6;
  const done = sum((p) => p.done);
  return {
    rps: sum((p) => p.requests) / secs,
    exchangesPerSec: sum((p) => p.raw.exchanges) / secs,
    requests: sum((p) => p.requests),
    errors: sum((p) => p.errors),
    p50Ms: median(parts.map((p) => p.p50Ms)),
    cpuUs: done > 0 ? (sum((p) => p.serverTicks) * 1e6) / CLK_TCK / done : Number.NaN,
    raw: { exchanges: sum((p) => p.raw.exchanges), duration_us: secs * 1e6 },
  };
}

/**
 * Starts the servers of `entries` (one process per server key and instance), fetches bearer
 * tokens where needed, warms every entry up once, then runs `CFG.runs` rounds over all entries.
 */
async function runGroup(name, entries, { instances = {}, prepare } = {}) {
  log(`group ${name}: ${entries.map((e) => e.id).join(', ')}`);
  const dir = tempDir('portcullis-bench-tokens-');
  const tokenFiles = new Map();
  const go = async (e, seconds, measured) => {
    const cpu0 = cpuTicks(e.proc.child.pid);
    const core0 = coreTicks(SERVER_CORE);
    const r = await wrk({
      port: e.proc.port,
      seconds,
      connections: e.connections,
      env: e.load,
      timeoutS: e.timeoutS ?? 5,
      core: LOAD_CORE,
      pinning,
    });
    if (e.proc.child.exitCode !== null) throw new Error(`${e.server} died:\n${e.proc.child.output}`);
    const done = e.metric === 'exchanges' ? r.raw.exchanges : r.requests;
    const serverTicks = cpuTicks(e.proc.child.pid) - cpu0;
    const core1 = coreTicks(SERVER_CORE);
    await drain(e.proc.child.pid);
    r.cpuUs = done > 0 ? (serverTicks * 1e6) / CLK_TCK / done : Number.NaN;
    r.done = done;
    r.serverTicks = serverTicks;
    if (pinning && measured && core1.total > core0.total) {
      foreignShares.push(Math.max(0, core1.busy - core0.busy - serverTicks) / (core1.total - core0.total));
    }
    return r;
  };
  // Every round starts fresh server processes: one process can be luckier than another (heap
  // layout, JIT and GC timing differ by several per cent), and medians over several processes
  // even that out.
  for (let round = 0; round < CFG.runs; round++) {
    const procs = new Map();
    try {
      for (const e of entries) {
        const key = `${e.server}/${e.instance ?? ''}`;
        if (!procs.has(key)) procs.set(key, await launch(e.server, instances[e.instance] ?? {}));
        e.proc = procs.get(key);
      }
      for (const e of entries) {
        if (!e.tokens) continue;
        const key = `${e.server}/${e.instance ?? ''}`;
        // Memory-store tokens die with their process; database tokens are fetched once.
        if (!tokenFiles.has(key) || !e.instance) {
          const file = join(dir, `${key.replace(/\W/g, '_')}-${round}.txt`);
          writeFileSync(file, `${(await fetchTokens(e.proc.port, SERVERS[e.server].tokenPath, 100)).join('\n')}\n`);
          tokenFiles.set(key, file);
        }
        e.load = { ...e.load, BENCH_FILE: tokenFiles.get(key) };
      }
      if (prepare && round === 0) await prepare(procs);
      for (const e of entries) {
        const w = await go(e, CFG.warm, false);
        if (w.requests > 0 && w.errors === w.requests) throw new Error(`${e.id}: every request failed during warm-up`);
      }
      // The order rotates from round to round, so no row is always measured first or last, and
      // each row's time is taken in slices of SLICE_S seconds in turn with the other rows: the
      // load of a shared machine comes and goes within seconds, and slices spread it over every
      // row alike. Rows marked `whole` (the scrypt row, which leaves seconds of work queued)
      // run their time in one piece.
      const shift = round % entries.length;
      const order = [...entries.slice(shift), ...entries.slice(0, shift)];
      const parts = new Map(order.map((e) => [e, []]));
      for (let slice = 0; slice < CFG.seconds / SLICE_S; slice++) {
        for (const e of order) {
          if (e.whole && slice > 0) continue;
          parts.get(e).push(await go(e, e.whole ? CFG.seconds : SLICE_S, true));
        }
      }
      for (const e of order) {
        const r = mergeSlices(parts.get(e));
        e.runs.push(r);
        const other = pinning ? `  others on server core ${(100 * (foreignShares.at(-1) ?? 0)).toFixed(0)}%` : '';
        log(
          `  ${e.id.padEnd(18)} round ${round + 1}: ${fmt(value(e, r))}/s  p50 ${r.p50Ms.toFixed(2)} ms  server CPU ${r.cpuUs.toFixed(1)} µs/req${other}${r.errors ? `  (${r.errors} errors)` : ''}`,
        );
      }
    } finally {
      for (const p of procs.values()) await stop(p.child);
    }
  }
  for (const e of entries) {
    e.cpu = median(e.runs.map((r) => r.cpuUs));
    e.median = median(e.runs.map((r) => value(e, r)));
    e.p50 = median(e.runs.map((r) => r.p50Ms));
    e.errors = e.runs.reduce((n, r) => n + r.errors, 0);
  }
}

// ------------------------------------------------------------------------------ PostgreSQL + Redis

async function pgQuery(url, sql, params) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(sql, params);
  } finally {
    await c.end();
  }
}

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

function countBy(names, k) {
  const out = {};
  for (const n of names) out[n] = (out[n] ?? 0) + 1 / k;
  return out;
}

/** Counts statements (driver side and PostgreSQL's own log) and Redis commands (MONITOR). */
async function countRoundTrips(proc, pgServer, redis, dbName) {
  const base = `http://127.0.0.1:${proc.port}`;
  const stats = async () => (await fetch(`${base}/__stats`, { method: 'POST' })).json();
  const K = 20;
  const admin = `${pgServer.url}/postgres`;
  const pgLines = [];
  const onData = (b) => {
    for (const line of b.toString().split('\n')) if (line.startsWith(`[${dbName}] LOG:`)) pgLines.push(line);
  };
  const pgStatements = () => pgLines.filter((l) => /LOG: {2}(statement|execute [^:]*):/.test(l)).length;
  pgServer.child.stderr.on('data', onData);
  await pgQuery(admin, `ALTER SYSTEM SET log_statement = 'all'`);
  await pgQuery(admin, 'SELECT pg_reload_conf()');
  await sleep(500);
  const phases = {};
  const phase = async (name, fn) => {
    await stats();
    pgLines.length = 0;
    const redisCmds = await monitorRedis(redis.port, fn);
    await sleep(300);
    const s = await stats();
    phases[name] = {
      sql: s.sql / K,
      sqlKinds: { SELECT: s.sqlSelect / K, INSERT: s.sqlInsert / K, UPDATE: s.sqlUpdate / K, other: s.sqlOther / K },
      redis: s.redis / K,
      redisKinds: Object.fromEntries(Object.entries(s.redisCommands).map(([k, v]) => [k, v / K])),
      pgLog: pgStatements() / K,
      monitor: redisCmds.length / K,
      monitorKinds: countBy(redisCmds, K),
    };
  };
  try {
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
    await pgQuery(admin, 'ALTER SYSTEM RESET log_statement');
    await pgQuery(admin, 'SELECT pg_reload_conf()');
    pgServer.child.stderr.off('data', onData);
  }
  return phases;
}

async function runPg(results) {
  log('starting PostgreSQL 15 and Redis (pinned to the load core)');
  const pgServer = await startPostgres({ core: LOAD_CORE, pinning, pgModule: pg });
  const redis = await startRedis({ core: LOAD_CORE, pinning });
  try {
    for (const db of ['bench_small', 'bench_large']) await pgQuery(`${pgServer.url}/postgres`, `CREATE DATABASE ${db}`);
    const instances = {
      small: { STORES: 'pg', DATABASE_URL: `${pgServer.url}/bench_small`, REDIS_URL: redis.url },
      large: { STORES: 'pg', DATABASE_URL: `${pgServer.url}/bench_large`, REDIS_URL: redis.url },
    };
    // Cost growth: the same server against 1,000 tokens and against CFG.growthRows tokens,
    // measured round-robin. Each table holds 100 real tokens (fetched by runGroup) plus fillers.
    await runGroup('pg-growth', [PG.resSmall, PG.resLarge, PG.resSmall1, PG.resLarge1], {
      instances,
      prepare: async () => {
        log(`filling bench_large with ${CFG.growthRows.toLocaleString('en')} tokens`);
        const t0 = Date.now();
        results.tables = {
          small: await fillTokens(instances.small.DATABASE_URL, 1_000),
          large: await fillTokens(instances.large.DATABASE_URL, CFG.growthRows),
          fillSeconds: (Date.now() - t0) / 1000,
        };
      },
    });
    await runGroup('pg-exchange', [PG.ex, PG.cc], {
      instances,
      prepare: async (procs) => {
        log('counting round trips');
        results.roundTrips = await countRoundTrips(procs.get('pc-node/small'), pgServer, redis, 'bench_small');
      },
    });
  } finally {
    await redis.stop();
    await pgServer.stop();
  }
}

// ------------------------------------------------------------------------------ memory, secrets

async function runScript(file, env, timeoutMs, marker, extraNodeArgs = []) {
  const cmd = [
    ...(pinning ? ['taskset', '-c', String(SERVER_CORE)] : []),
    process.execPath,
    ...extraNodeArgs,
    ...portcullisNodeArgs(),
    join(BENCH_DIR, file),
  ];
  const out = await runToEnd(cmd[0], cmd.slice(1), { env: { ...process.env, ...env }, cwd: BENCH_DIR, timeoutMs });
  const m = new RegExp(`${marker} (\\{.*\\})`).exec(out);
  if (!m) throw new Error(`${file} printed no result:\n${out}`);
  return JSON.parse(m[1]);
}

// ------------------------------------------------------------------------------ report

function fmt(n) {
  if (!Number.isFinite(n)) return 'n/a';
  if (n >= 100) return Math.round(n).toLocaleString('en');
  return n.toFixed(1);
}
const x = (n, d = 2) => (Number.isFinite(n) ? `${n.toFixed(d)}×` : 'n/a');

/** The issue's reference ratios (to bare node:http hello), for the rows that have one. */
const ISSUE_RATIO = {
  'bare-hello': 1.0,
  'bare-token': 0.5,
  'express-hello': 0.14,
  'oidc-cc': 0.12,
  'oidc-intro': 0.12,
  'oauth2-cc': 0.08,
  'oauth2-res': 0.12,
};

/** `a` over `b` in req/s, and the same from server CPU time per request (robust to a shared core). */
function ratio(a, b) {
  return { rps: a.median / b.median, cpu: b.cpu / a.cpu };
}
const both = (r) => `${x(r.rps)} (CPU ${x(r.cpu)})`;

function targets(results) {
  const t = {};
  if (Number.isFinite(E.pcNodeCc.median)) {
    const parts = [
      [ratio(E.pcNodeCc, E.oidcCc), 3, 'oidc-provider'],
      [ratio(E.pcNodeCc, E.oauth2Cc), 4, 'oauth2-server'],
      [ratio(E.pcNodeCc, E.bareToken), 0.6, 'minimal token'],
    ];
    t['pc-node-cc'] = {
      text: parts.map(([r, min, who]) => `≥${min}× ${who}: ${both(r)}`).join('; '),
      pass: parts.every(([r, min]) => r.rps >= min),
    };
  }
  if (Number.isFinite(E.pcNodeRes.median)) {
    const r = ratio(E.pcNodeRes, E.bareHello);
    t['pc-node-res'] = { text: `≥0.6× bare hello: ${both(r)}`, pass: r.rps >= 0.6 };
  }
  if (Number.isFinite(E.pcExpressRes.median)) {
    const r = ratio(E.pcExpressRes, E.expressHello);
    t['pc-express-res'] = { text: `≥0.9× Express hello: ${both(r)}`, pass: r.rps >= 0.9 };
  }
  if (Number.isFinite(E.pcExpressRoute.median)) {
    const r = ratio(E.pcExpressRoute, E.expressHello);
    t['pc-express-route'] = { text: `≥0.9× Express hello: ${both(r)}`, pass: r.rps >= 0.9 };
  }
  if (results.growth) {
    const g = results.growth;
    t['pg-res-large'] = { text: `p50 latency within 1.2× of 1,000 tokens: ${x(g.latencyRatio)}`, pass: g.latencyRatio <= 1.2 };
    t['pg-res-large-c1'] = { text: `p50 latency within 1.2× of 1,000 tokens: ${x(g.latencyRatio1)}`, pass: g.latencyRatio1 <= 1.2 };
  }
  if (results.roundTrips) {
    const tk = results.roundTrips.token;
    const total = tk.sql + tk.redis;
    t['pg-ex'] = {
      text: `token request: ${total} round trips, minimum 3 (see below)`,
      pass: total === 3 && tk.pgLog === tk.sql && tk.monitor === tk.redis,
    };
  }
  return t;
}

function report(results) {
  const ref = E.bareHello.median;
  const all = [
    E.bareHello,
    E.bareToken,
    E.expressHello,
    E.oidcCc,
    E.oauth2Cc,
    E.pcNodeCc,
    E.pcExpressCc,
    E.pcFetchCc,
    E.pcNodeCcScrypt,
    E.oauth2Res,
    E.pcNodeRes,
    E.pcExpressRes,
    E.pcExpressRoute,
    E.pcFetchRes,
    E.oidcIntro,
    E.pcNodeIntro,
    E.pcExpressIntro,
    E.pcFetchIntro,
    E.pcNodeEx,
    E.pcExpressEx,
    E.pcFetchEx,
    PG.cc,
    PG.resSmall,
    PG.resLarge,
    PG.resSmall1,
    PG.resLarge1,
    PG.ex,
  ].filter((e) => e.runs.length > 0);
  const t = targets(results);
  const lines = [];
  const loadEnd = loadavg();
  lines.push(`Date: ${startedAt.toISOString()}  `);
  lines.push(`Machine: ${nproc} cores, ${cpuModel}, Node ${process.version}, ${wrkVersion}  `);
  lines.push(
    `Setup: ${pinning ? `server pinned to core ${SERVER_CORE}, wrk (1 thread) and PostgreSQL/Redis pinned to core ${LOAD_CORE}` : 'no pinning'}; ${CONNECTIONS} connections over loopback; ` +
      `${CFG.runs} rounds per group, each with fresh server processes, a ${CFG.warm} s warm-up and ${CFG.seconds} s per row taken in ${SLICE_S} s slices round-robin, the order rotated each round; medians${opts.quick ? ' (--quick)' : ''}; ` +
      `Portcullis ${opts.source ? 'from TypeScript sources through tsx (--source)' : 'from its built dist/'}; NODE_ENV=production  `,
  );
  const fMed = median(foreignShares);
  const fMax = Math.max(...foreignShares);
  // Run-to-run spread of each row ((max - min) / median), a sign of noise on either core.
  const spread = median(
    all
      .filter((e) => e.runs.length > 1)
      .map((e) => {
        const v = e.runs.map((r) => value(e, r));
        return (Math.max(...v) - Math.min(...v)) / e.median;
      }),
  );
  const noisy = (foreignShares.length > 0 && (fMed > 0.05 || fMax > 0.25)) || spread > 0.15;
  lines.push(
    `Load average at start ${loadStart.map((v) => v.toFixed(2)).join(' ')}, at end ${loadEnd.map((v) => v.toFixed(2)).join(' ')}` +
      (foreignShares.length > 0
        ? `; other processes used ${(100 * fMed).toFixed(0)}% (median; max ${(100 * fMax).toFixed(0)}%) of the server core during the measured runs` +
          `; median run-to-run spread of a row ${(100 * spread).toFixed(0)}%` +
          (noisy ? ' — **the machine was busy: numbers are noisy**' : ' — quiet')
        : ''),
  );
  lines.push('');
  lines.push(
    "| scenario | stores | server | req/s (median) | runs | × bare hello | issue's × | p50 ms | server CPU µs/req | target (ratios in this run) | result |",
  );
  lines.push('|---|---|---|---:|---|---:|---:|---:|---:|---|---|');
  for (const e of all) {
    const unit = e.metric === 'exchanges' ? ' exch/s' : '';
    const runs = e.runs.map((r) => fmt(value(e, r))).join(' / ');
    const toHello = Number.isFinite(ref) ? x(e.median / ref) : 'n/a';
    const issue = ISSUE_RATIO[e.id] !== undefined ? x(ISSUE_RATIO[e.id]) : '';
    const tg = t[e.id];
    const label =
      SERVERS[e.server].label +
      (e.instance === 'large'
        ? ` — ${results.tables?.large.rows.toLocaleString('en')} tokens`
        : e.instance === 'small' && e.id.startsWith('pg-res')
          ? ' — 1,000 tokens'
          : '') +
      (e.note ?? '');
    const errs = e.errors ? ` (${e.errors} errors)` : '';
    lines.push(
      `| ${e.scenario} | ${e.stores} | ${label} | ${fmt(e.median)}${unit}${errs} | ${runs} | ${toHello} | ${issue} | ${e.p50.toFixed(2)} | ${e.cpu.toFixed(1)} | ${tg?.text ?? ''} | ${tg ? (tg.pass ? 'PASS' : 'FAIL') : ''} |`,
    );
  }
  lines.push('');
  lines.push(
    'Code exchange rows count whole exchanges (one authorization request answered with a 302 and a code, then one token request redeeming it with PKCE S256 and getting an access and a refresh token): two HTTP requests each.',
  );

  if (results.roundTrips) {
    const rt = results.roundTrips;
    const kinds = (o) =>
      Object.entries(o)
        .filter(([, v]) => v > 0)
        .map(([k, v]) => `${v} ${k}`)
        .join(' + ') || 'none';
    lines.push('');
    lines.push('### Store round trips on PostgreSQL + Redis (per request, counted over 20 sequential requests)');
    lines.push('');
    lines.push(
      '| request | SQL statements (driver) | SQL statements (PostgreSQL log) | Redis commands (client) | Redis commands (MONITOR) | total |',
    );
    lines.push('|---|---|---:|---|---:|---:|');
    for (const [name, p] of Object.entries(rt)) {
      lines.push(
        `| ${name} | ${p.sql} (${kinds(p.sqlKinds)}) | ${p.pgLog} | ${p.redis} (${kinds(p.redisKinds)}) | ${p.monitor} | ${p.sql + p.redis} |`,
      );
    }
  }
  if (results.growth) {
    const g = results.growth;
    lines.push('');
    lines.push(
      `### Cost growth: resource check with ${results.tables.large.rows.toLocaleString('en')} tokens vs ${results.tables.small.rows.toLocaleString('en')} in PostgreSQL`,
    );
    lines.push('');
    lines.push(
      `Table sizes (with indexes): ${(results.tables.small.bytes / 2 ** 20).toFixed(1)} MiB vs ${(results.tables.large.bytes / 2 ** 20).toFixed(1)} MiB (filled in ${results.tables.fillSeconds.toFixed(0)} s).  `,
    );
    lines.push(
      `50 connections: p50 ${g.small50.toFixed(2)} ms vs ${g.large50.toFixed(2)} ms (${x(g.latencyRatio)}), throughput ${fmt(PG.resSmall.median)} vs ${fmt(PG.resLarge.median)} req/s.  `,
    );
    lines.push(`1 connection: p50 ${g.small1.toFixed(3)} ms vs ${g.large1.toFixed(3)} ms (${x(g.latencyRatio1)}).`);
  }
  if (results.memory) {
    const mm = results.memory;
    const perToken = ((mm.afterTokens.heapUsedMiB - mm.empty.heapUsedMiB) * 2 ** 20) / mm.tokens;
    lines.push('');
    lines.push('### Memory (memory stores, in-process requests, after full GC)');
    lines.push('');
    lines.push('| state | RSS MiB | heap used MiB |');
    lines.push('|---|---:|---:|');
    lines.push(`| provider started | ${mm.empty.rssMiB.toFixed(0)} | ${mm.empty.heapUsedMiB.toFixed(0)} |`);
    lines.push(
      `| after ${mm.tokens.toLocaleString('en')} client_credentials tokens (all live, 1 h lifetime) | ${mm.afterTokens.rssMiB.toFixed(0)} | ${mm.afterTokens.heapUsedMiB.toFixed(0)} |`,
    );
    lines.push(
      `| then ${mm.codes.toLocaleString('en')} unredeemed codes on \`@portcullis/grant-cache-memory\` (default threshold; ${mm.cacheEntries} entries held) | ${mm.afterFlood.rssMiB.toFixed(0)} | ${mm.afterFlood.heapUsedMiB.toFixed(0)} |`,
    );
    lines.push(
      `| for comparison, a fresh provider: ${mm.codesCore.toLocaleString('en')} unredeemed codes on the grant map of \`createMemoryStores\` (default \`maxCodes\` 100,000) | +${(mm.afterCoreFlood.rssMiB - mm.coreBefore.rssMiB).toFixed(0)} | +${(mm.afterCoreFlood.heapUsedMiB - mm.coreBefore.heapUsedMiB).toFixed(0)} |`,
    );
    lines.push('');
    lines.push(
      `About ${Math.round(perToken)} bytes of heap per live access token. The code flood adds ${(mm.afterFlood.heapUsedMiB - mm.afterTokens.heapUsedMiB).toFixed(1)} MiB of heap on the bounded grant cache.`,
    );
  }
  if (results.secret) {
    const s = results.secret;
    const cc = E.pcNodeCc.median;
    const sc = E.pcNodeCcScrypt.median;
    lines.push('');
    lines.push('### Client secret verification');
    lines.push('');
    lines.push(
      `\`verifySecret\` takes ${s.hmacUs.toFixed(1)} µs against a \`hashSecret\` hash (salted SHA-256, \`sha256$\`) and ${(s.scryptUs / 1000).toFixed(1)} ms against a \`hashPassword\` (scrypt N=16384) hash.  `,
    );
    if (Number.isFinite(cc)) {
      lines.push(
        `A client_credentials token request through the \`node:http\` adapter costs the server ${E.pcNodeCc.cpu.toFixed(0)} µs of CPU (${fmt(cc)} tokens/s): the secret check is ${((100 * s.hmacUs) / E.pcNodeCc.cpu).toFixed(1)}% of it.  `,
      );
    }
    if (Number.isFinite(sc)) {
      lines.push(
        `With a scrypt-hashed secret the same request costs ${(E.pcNodeCcScrypt.cpu / 1000).toFixed(1)} ms of CPU (${fmt(sc)} tokens/s): the check is ${Math.min(100, (100 * s.scryptUs) / E.pcNodeCcScrypt.cpu).toFixed(0)}% of it.`,
      );
    }
  }
  return lines.join('\n');
}

// ------------------------------------------------------------------------------ main

const results = {};
if (!opts.source) ensureBuilt();
log(`groups: ${[...groups].join(', ')}${opts.quick ? ' (quick)' : ''}; load average ${loadStart.map((v) => v.toFixed(2)).join(' ')}`);
if (loadStart[0] > 0.7) log('warning: the machine is busy (load average > 0.7); numbers will be noisy');

if (groups.has('token')) {
  await runGroup('token', [E.bareToken, E.oidcCc, E.oauth2Cc, E.pcNodeCc, E.pcExpressCc, E.pcFetchCc, E.pcNodeCcScrypt]);
}
if (groups.has('resource')) {
  await runGroup('resource', [E.bareHello, E.expressHello, E.oauth2Res, E.pcNodeRes, E.pcExpressRes, E.pcExpressRoute, E.pcFetchRes]);
} else {
  await runGroup('reference', [E.bareHello]);
}
if (groups.has('introspection')) await runGroup('introspection', [E.oidcIntro, E.pcNodeIntro, E.pcExpressIntro, E.pcFetchIntro]);
if (groups.has('exchange')) await runGroup('exchange', [E.pcNodeEx, E.pcExpressEx, E.pcFetchEx]);
if (groups.has('pg')) {
  await runPg(results);
  results.growth = {
    small50: PG.resSmall.p50,
    large50: PG.resLarge.p50,
    small1: PG.resSmall1.p50,
    large1: PG.resLarge1.p50,
    latencyRatio: PG.resLarge.p50 / PG.resSmall.p50,
    latencyRatio1: PG.resLarge1.p50 / PG.resSmall1.p50,
  };
}
if (groups.has('memory')) {
  log(`memory: ${CFG.memTokens.toLocaleString('en')} tokens, then ${CFG.flood.toLocaleString('en')} unredeemed codes`);
  results.memory = await runScript(
    'memory.mjs',
    { TOKENS: String(CFG.memTokens), FLOOD: String(CFG.flood), NODE_ENV: 'test' },
    300_000,
    'MEMORY_RESULT',
    ['--expose-gc'],
  );
}
if (groups.has('secret')) {
  log('secret verification cost');
  results.secret = await runScript('secret.mjs', {}, 60_000, 'SECRET_RESULT');
}

const text = report(results);
console.log(`\n${text}\n`);
if (opts.out) writeFileSync(opts.out, `${text}\n`);
log('done');
killAll('SIGKILL');
