// The command line of `pnpm bench`: options, preflight (wrk, pinning, the machine), cleanup on
// every way out, building Portcullis, and the order the groups run in. See run.mjs for usage.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runDpop } from './dpop.mjs';
import { runGrowth } from './growth.mjs';
import { runJwt } from './jwt.mjs';
import { portcullisNodeArgs, runGroup } from './measure.mjs';
import { runPaired } from './paired.mjs';
import { killAll, runToEnd } from './procs.mjs';
import { report } from './report.mjs';
import { ALL_GROUPS, E, STORE_GROUPS, TELEMETRY_INSTANCES, telemetryRows } from './scenarios.mjs';
import { runStore } from './stores.mjs';

const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
const USAGE_FILE = join(BENCH_DIR, 'run.mjs');

// ------------------------------------------------------------------------------ options

export function parseArgs(argv) {
  const o = { quick: false, only: null, out: null, pin: true, source: false, rounds: null, profile: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') continue;
    else if (a === '--quick') o.quick = true;
    else if (a === '--no-pin') o.pin = false;
    else if (a === '--source') o.source = true;
    else if (a === '--only') o.only = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a.startsWith('--only=')) o.only = a.slice(7).split(',').filter(Boolean);
    else if (a === '--out') o.out = argv[++i];
    else if (a === '--profile') o.profile = argv[++i];
    else if (a === '--rounds') {
      o.rounds = Number(argv[++i]);
      if (!Number.isInteger(o.rounds) || o.rounds < 1) throw new Error('--rounds needs a positive integer');
    } else if (a === '--help' || a === '-h') {
      const lines = readFileSync(USAGE_FILE, 'utf8').split('\n');
      console.log(
        lines
          .slice(1, lines.findIndex((l) => l.startsWith('//   pnpm bench --profile')) + 2)
          .join('\n')
          .replace(/^\/\/ ?/gm, ''),
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a} (see --help)`);
  }
  for (const g of o.only ?? []) if (!ALL_GROUPS.includes(g)) throw new Error(`unknown group ${g}; groups: ${ALL_GROUPS.join(' ')}`);
  return o;
}

const SERVER_CORE = 0;
const LOAD_CORE = 1;

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
const canPin = nproc >= 2 && Boolean(which('taskset'));

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
const PORTCULLIS_PACKAGES = ['core', 'grant-cache-memory', 'grant-cache-redis', 'binding-sequelize', 'binding-mongoose', 'resource-server'];
const TSC = join(WORKSPACE, 'node_modules', '.bin', 'tsc');

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
    // Each package's `build` script, run directly (not through pnpm, which may decide to install).
    const r = spawnSync(TSC, ['-p', 'tsconfig.build.json'], { cwd: dir, encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) {
      throw new Error(
        `could not build @portcullis/${name} (run with --source to use the TypeScript sources instead):\n${r.stdout}${r.stderr}`,
      );
    }
  }
}

// ------------------------------------------------------------------------------ memory, secrets

async function runScript(ctx, file, env, timeoutMs, marker, extraNodeArgs = []) {
  const cmd = [
    ...(ctx.pinning ? ['taskset', '-c', String(ctx.SERVER_CORE)] : []),
    process.execPath,
    ...extraNodeArgs,
    ...portcullisNodeArgs(ctx),
    join(BENCH_DIR, file),
  ];
  const out = await runToEnd(cmd[0], cmd.slice(1), { env: { ...process.env, ...env }, cwd: BENCH_DIR, timeoutMs });
  const m = new RegExp(`${marker} (\\{.*\\})`).exec(out);
  if (!m) throw new Error(`${file} printed no result:\n${out}`);
  return JSON.parse(m[1]);
}

// ------------------------------------------------------------------------------ main

export async function main(argv) {
  const opts = parseArgs(argv);
  // warmMax bounds the warm-up (until steady) of each row in each round.
  const CFG = opts.quick
    ? { warmMax: 4, seconds: 2, runs: 1, growthRows: 100_000, memTokens: 100_000, flood: 100_000 }
    : { warmMax: 10, seconds: 4, runs: 5, growthRows: 1_000_000, memTokens: 1_000_000, flood: 1_000_000 };
  if (opts.rounds) CFG.runs = opts.rounds;
  const groups = new Set(opts.only ?? ALL_GROUPS);
  const pinning = opts.pin && canPin;
  const ctx = {
    opts,
    CFG,
    groups,
    BENCH_DIR,
    SERVER_CORE,
    LOAD_CORE,
    pinning,
    nproc,
    cpuModel,
    wrkVersion,
    loadStart,
    startedAt,
    log,
    foreignShares: [],
  };
  if (opts.pin && !pinning) console.error('note: not pinning (needs taskset and at least 2 cores)');

  const results = {};
  if (!opts.source) ensureBuilt();
  log(`groups: ${[...groups].join(', ')}${opts.quick ? ' (quick)' : ''}; load average ${loadStart.map((v) => v.toFixed(2)).join(' ')}`);
  if (loadStart[0] > 0.7) log('warning: the machine is busy (load average > 0.7); numbers will be noisy');

  if (groups.has('token')) {
    await runGroup(ctx, 'token', [E.bareToken, E.oidcCc, E.oauth2Cc, E.pcNodeCc, E.pcExpressCc, E.pcFetchCc, E.pcNodeCcScrypt]);
  }
  if (groups.has('telemetry')) {
    await runGroup(ctx, 'telemetry', telemetryRows(), { instances: TELEMETRY_INSTANCES });
    log('telemetry: in-process A/B of token requests, without and with an SDK');
    const phase = opts.quick ? 4 : 10;
    results.telemetry = await runScript(ctx, 'telemetry.mjs', { PHASE_S: String(phase), NODE_ENV: 'test' }, 120_000, 'TELEMETRY_RESULT');
  }
  if (groups.has('resource')) {
    await runGroup(ctx, 'resource', [
      E.bareHello,
      E.expressHello,
      E.oauth2Res,
      E.pcNodeRes,
      E.pcExpressRes,
      E.pcExpressRoute,
      E.pcFetchRes,
    ]);
  } else {
    await runGroup(ctx, 'reference', [E.bareHello]);
  }
  if (groups.has('introspection')) await runGroup(ctx, 'introspection', [E.oidcIntro, E.pcNodeIntro, E.pcExpressIntro, E.pcFetchIntro]);
  if (groups.has('exchange')) await runGroup(ctx, 'exchange', [E.pcNodeEx, E.pcExpressEx, E.pcFetchEx]);
  if (groups.has('jwt')) await runJwt(ctx);
  if (groups.has('dpop')) await runDpop(ctx);
  if (groups.has('paired')) results.paired = await runPaired(ctx);
  for (const store of STORE_GROUPS) if (groups.has(store)) await runStore(ctx, store, results);
  if (groups.has('memory')) {
    log(`memory: ${CFG.memTokens.toLocaleString('en')} tokens, then ${CFG.flood.toLocaleString('en')} unredeemed codes`);
    results.memory = await runScript(
      ctx,
      'memory.mjs',
      { TOKENS: String(CFG.memTokens), FLOOD: String(CFG.flood), NODE_ENV: 'test' },
      300_000,
      'MEMORY_RESULT',
      ['--expose-gc'],
    );
  }
  if (groups.has('growth')) results.tokenGrowth = await runGrowth(ctx);
  if (groups.has('secret')) {
    log('secret verification cost');
    results.secret = await runScript(ctx, 'secret.mjs', {}, 60_000, 'SECRET_RESULT');
  }

  const text = report(ctx, results);
  console.log(`\n${text}\n`);
  if (opts.out) writeFileSync(opts.out, `${text}\n`);
  log('done');
  killAll('SIGKILL');
}
