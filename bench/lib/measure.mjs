// Measuring: starting the servers of a group, warming each up until its rate is steady, and
// running the rounds of wrk slices; server CPU per request from /proc, and how much of the
// server core other processes took meanwhile.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startServer, stop, tempDir } from './procs.mjs';
import { basic, CC_BODY, SERVERS } from './scenarios.mjs';
import { wrk } from './wrk.mjs';

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU time (user + system, in clock ticks) a process has used so far, all its threads included. */
export function cpuTicks(pid) {
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

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
export const value = (e, r) => (e.metric === 'exchanges' ? r.exchangesPerSec : r.rps);

/** Seconds per slice of a measured run (and per step of the warm-up). */
export const SLICE_S = 1;

/** One run's figures from its slices: totals over the summed duration, median p50 and p99. */
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
    p99Ms: median(parts.map((p) => p.p99Ms)),
    cpuUs: done > 0 ? (sum((p) => p.serverTicks) * 1e6) / CLK_TCK / done : Number.NaN,
    raw: { exchanges: sum((p) => p.raw.exchanges), duration_us: secs * 1e6 },
  };
}

/** Node flags for processes that load Portcullis: none for dist/, tsx and the source condition for --source. */
export function portcullisNodeArgs(ctx) {
  return ctx.opts.source ? ['--conditions=source', '--import', 'tsx'] : [];
}

/** Starts one server process (pinned to the server core) and waits for its READY line. */
export async function launch(ctx, key, extraEnv = {}) {
  const s = SERVERS[key];
  const port = await freePort();
  const node = [
    process.execPath,
    ...(s.portcullis ? portcullisNodeArgs(ctx) : []),
    ...(ctx.opts.profile && s.portcullis ? profileArgs(ctx) : []),
  ];
  const cmd = [...(ctx.pinning ? ['taskset', '-c', String(ctx.SERVER_CORE)] : []), ...node, join(ctx.BENCH_DIR, s.file)];
  const env = { ...process.env, NODE_ENV: 'production', PORT: String(port), ...s.env, ...extraEnv };
  const { child } = await startServer(cmd[0], cmd.slice(1), { env, cwd: ctx.BENCH_DIR, timeoutMs: 90_000 });
  return { key, port, child };
}

/** `--profile DIR`: every Portcullis server writes a CPU profile there when it ends. */
function profileArgs(ctx) {
  return ['--cpu-prof', `--cpu-prof-dir=${ctx.opts.profile}`];
}

export async function fetchTokens(port, path, n, clientId = 'c1') {
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

/**
 * Starts the servers of `entries` (one process per server key and instance), fetches bearer
 * tokens where needed, warms every entry up until its rate is steady, then runs `CFG.runs`
 * rounds over all entries. `instances` gives each instance's environment (database URLs).
 * `eachRound(procs, round)` runs in every round once the servers are up, before the warm-ups (the
 * DPoP rows issue their token and write their proofs there).
 */
export async function runGroup(ctx, name, entries, { instances = {}, prepare, eachRound } = {}) {
  const { CFG, log } = ctx;
  log(`group ${name}: ${entries.map((e) => e.id).join(', ')}`);
  const dir = tempDir('portcullis-bench-tokens-');
  const tokenFiles = new Map();
  const go = async (e, seconds, measured) => {
    const cpu0 = cpuTicks(e.proc.child.pid);
    const core0 = coreTicks(ctx.SERVER_CORE);
    const r = await wrk({
      port: e.proc.port,
      seconds,
      connections: e.connections,
      env: e.load,
      timeoutS: e.timeoutS ?? 5,
      core: ctx.LOAD_CORE,
      pinning: ctx.pinning,
    });
    if (e.proc.child.exitCode !== null) throw new Error(`${e.server} died:\n${e.proc.child.output}`);
    if (r.raw.wraps > 0) ctx.log(`  warning: ${e.id} ran out of proofs and started its file over (replays)`);
    const done = e.metric === 'exchanges' ? r.raw.exchanges : r.requests;
    const serverTicks = cpuTicks(e.proc.child.pid) - cpu0;
    const core1 = coreTicks(ctx.SERVER_CORE);
    await drain(e.proc.child.pid);
    r.cpuUs = done > 0 ? (serverTicks * 1e6) / CLK_TCK / done : Number.NaN;
    r.done = done;
    r.serverTicks = serverTicks;
    if (ctx.pinning && measured && core1.total > core0.total) {
      ctx.foreignShares.push(Math.max(0, core1.busy - core0.busy - serverTicks) / (core1.total - core0.total));
    }
    return r;
  };
  /**
   * Warms an entry up in SLICE_S steps until its rate stops rising: a step no more than 3% above
   * the best step before it (at least two steps, at most CFG.warmMax seconds). A fresh
   * oidc-provider climbs for several seconds; a fixed 1 s warm-up understated it by about 10%.
   */
  const warm = async (e) => {
    let best = 0;
    let steps = 0;
    const maxSteps = Math.max(2, Math.round(CFG.warmMax / SLICE_S));
    for (;;) {
      const w = await go(e, e.whole ? CFG.warmMax : SLICE_S, false);
      steps++;
      if (w.requests > 0 && w.errors === w.requests) throw new Error(`${e.id}: every request failed during warm-up`);
      const rate = value(e, w);
      const steady = steps >= 2 && rate <= best * 1.03;
      best = Math.max(best, rate);
      if (e.whole || steady || steps >= maxSteps) break;
    }
    if (!e.warmSteps) e.warmSteps = [];
    e.warmSteps.push(e.whole ? CFG.warmMax : steps * SLICE_S);
  };
  // Every round starts fresh server processes: one process can be luckier than another (heap
  // layout, JIT and GC timing differ by several per cent), and medians over several processes
  // even that out.
  for (let round = 0; round < CFG.runs; round++) {
    const procs = new Map();
    try {
      for (const e of entries) {
        const key = `${e.server}/${e.instance ?? ''}`;
        if (!procs.has(key)) procs.set(key, await launch(ctx, e.server, instances[e.instance] ?? {}));
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
      if (eachRound) await eachRound(procs, round);
      for (const e of entries) await warm(e);
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
        const other = ctx.pinning ? `  others on server core ${(100 * (ctx.foreignShares.at(-1) ?? 0)).toFixed(0)}%` : '';
        log(
          `  ${e.id.padEnd(18)} round ${round + 1}: ${fmtRate(value(e, r))}/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  server CPU ${r.cpuUs.toFixed(1)} µs/req  warm-up ${e.warmSteps.at(-1)} s${other}${r.errors ? `  (${r.errors} errors)` : ''}`,
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
    e.p99 = median(e.runs.map((r) => r.p99Ms));
    e.errors = e.runs.reduce((n, r) => n + r.errors, 0);
  }
}

const fmtRate = (n) => (n >= 100 ? Math.round(n).toLocaleString('en') : n.toFixed(1));
