// Group `paired`: the issue's ratio targets measured with both servers of a pair loaded at the
// same time, on the same server core, each by its own wrk on the load core. The ratio is the
// floor's server CPU time per request over the subject's: what their throughputs would be, each
// alone on the core. Whatever else slows the machine in those seconds (a neighbour on the host, a
// frequency change) slows both alike, so the ratio holds still where the one-after-the-other rows
// of the other groups move by 10 to 30 per cent from run to run on a shared machine. Sharing the
// core does cost each server some cache locality; the larger working set (Portcullis's) loses more
// of it, so the ratio leans, if anything, against Portcullis.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { issue } from './jwt.mjs';
import { cpuTicks, fetchTokens, launch, median } from './measure.mjs';
import { stop, tempDir } from './procs.mjs';
import { E, J, JWT_ALGS, SERVERS } from './scenarios.mjs';
import { wrk } from './wrk.mjs';

/**
 * The pairs: `floor` and `subject` are rows of the other groups (same servers, same requests);
 * `min` is the issue's target for cpu(floor) / cpu(subject), or for cpu(subject's rival) / cpu(subject)
 * when `inverse` (the subject against another implementation it must beat by `min`).
 */
export function pairs() {
  const out = [
    {
      id: 'cc-vs-minimal',
      floor: E.bareToken,
      subject: E.pcNodeCc,
      min: 0.7,
      what: 'client_credentials (`node:http`) vs bare minimal token',
    },
    {
      id: 'node-res',
      floor: E.bareHello,
      subject: E.pcNodeRes,
      min: 0.6,
      what: '`node:http` `requireOAuth` resource vs bare hello (kept from issue 7)',
    },
    {
      id: 'express-res',
      floor: E.expressHello,
      subject: E.pcExpressRes,
      min: 0.95,
      what: 'Express `requireOAuth` resource vs Express hello',
    },
    {
      id: 'express-route',
      floor: E.expressHello,
      subject: E.pcExpressRoute,
      min: 0.95,
      what: 'Express `withOAuth` route vs Express hello',
    },
  ];
  for (const inst of Object.keys(JWT_ALGS)) {
    const j = J[inst];
    const alg = JWT_ALGS[inst];
    out.push(
      { id: `jwt-${inst}-sign`, floor: j.floorSign, subject: j.pcCc, min: 0.8, what: `JWT client_credentials vs bare SignJWT (${alg})` },
      { id: `jwt-${inst}-oidc`, floor: j.oidcCc, subject: j.pcCc, min: 2, what: `JWT client_credentials vs oidc-provider JWT (${alg})` },
      {
        id: `jwt-${inst}-verify`,
        floor: j.floorVerify,
        subject: j.rsFirst,
        min: 0.8,
        what: `resource-server first-seen JWT vs bare jwtVerify (${alg})`,
      },
    );
  }
  return out;
}

/** Seconds both servers are loaded before the measured part of a round (warm-up). */
const WARM_S = 3;

/**
 * Runs every pair for `CFG.runs` rounds (fresh processes each round) and returns, per pair, the
 * rounds' ratios and their median.
 */
export async function runPaired(ctx) {
  const { CFG, log } = ctx;
  const dir = tempDir('portcullis-bench-paired-');
  const list = pairs();
  log(`group paired: ${list.map((p) => p.id).join(', ')}`);
  // JWT verification rows read tokens issued beforehand by one provider per algorithm, which also
  // serves the JWKS; it stays up for the group, idle while the pairs are measured.
  const issuers = new Map();
  const pools = new Map();
  try {
    for (const [inst, alg] of Object.entries(JWT_ALGS)) {
      const p = await launch(ctx, 'pc-node', { JWT_ALG: alg });
      issuers.set(inst, p);
      const file = join(dir, `pool-${inst}.txt`);
      writeFileSync(file, `${(await issue(p.port, J[inst].floorVerify.jwtPool)).join('\n')}\n`);
      pools.set(inst, { file, env: { JWT_ALG: alg, JWKS_URL: `http://127.0.0.1:${p.port}/oauth/jwks` } });
    }
    const results = [];
    for (const pair of list) {
      const rounds = [];
      for (let round = 0; round < CFG.runs; round++) {
        // A round whose load generator fails (wrk printing nothing happened once in 50 rounds) is
        // run once more with fresh processes, and said so; a second failure ends the run.
        try {
          rounds.push(await onePairRound(ctx, pair, round, dir, pools));
        } catch (err) {
          log(`  ${pair.id}: round ${round + 1} failed (${err instanceof Error ? err.message.split('\n')[0] : err}); running it again`);
          rounds.push(await onePairRound(ctx, pair, round, dir, pools));
        }
      }
      const r = median(rounds.map((x) => x.ratio));
      results.push({ ...pair, rounds, ratio: r, pass: r >= pair.min });
      log(`  ${pair.id.padEnd(20)} median ${r.toFixed(3)} (target ≥${pair.min}): ${rounds.map((x) => x.ratio.toFixed(3)).join(' / ')}`);
    }
    return results;
  } finally {
    for (const p of issuers.values()) await stop(p.child);
  }
}

/** The load environment of a row in this group: its bearer tokens or its pool of JWTs. */
async function loadEnv(row, proc, round, side, dir, pools) {
  const env = { ...row.load };
  if (row.tokens) {
    const file = join(dir, `${row.id}-${round}-${side}.txt`);
    writeFileSync(file, `${(await fetchTokens(proc.port, SERVERS[row.server].tokenPath, 100)).join('\n')}\n`);
    env.BENCH_FILE = file;
  }
  if (row.jwtPool) {
    env.BENCH_FILE = pools.get(row.instance).file;
    env.BENCH_CURSOR = join(dir, `${row.id}-${side}.cursor`);
  }
  return env;
}

async function onePairRound(ctx, pair, round, dir, pools) {
  const { CFG } = ctx;
  const procs = [];
  try {
    // The order of starting alternates, so neither server is always the first one up.
    const sides = round % 2 === 0 ? ['floor', 'subject'] : ['subject', 'floor'];
    const byside = {};
    for (const side of sides) {
      const row = pair[side];
      // JWT rows name their algorithm's instance; the verifiers also need the issuer's JWKS.
      const env = pools.get(row.instance)?.env ?? (row.instance ? { JWT_ALG: JWT_ALGS[row.instance] } : {});
      const proc = await launch(ctx, row.server, env);
      procs.push(proc);
      byside[side] = { row, proc };
    }
    for (const side of sides) byside[side].env = await loadEnv(byside[side].row, byside[side].proc, round, side, dir, pools);
    const both = (seconds) =>
      Promise.all(
        ['floor', 'subject'].map((side) =>
          wrk({
            port: byside[side].proc.port,
            seconds,
            connections: byside[side].row.connections,
            env: byside[side].env,
            timeoutS: 5,
            core: ctx.LOAD_CORE,
            pinning: ctx.pinning,
          }),
        ),
      );
    await both(WARM_S);
    await sleep(200);
    const t0 = ['floor', 'subject'].map((s) => cpuTicks(byside[s].proc.child.pid));
    const [f, s] = await both(CFG.seconds * 2);
    const t1 = ['floor', 'subject'].map((s) => cpuTicks(byside[s].proc.child.pid));
    for (const [side, r] of [
      ['floor', f],
      ['subject', s],
    ]) {
      if (r.requests === 0 || r.errors > r.requests / 100)
        throw new Error(`paired ${pair.id}: ${side} answered ${r.errors} of ${r.requests} requests with errors`);
    }
    const cpuF = (t1[0] - t0[0]) / f.requests;
    const cpuS = (t1[1] - t0[1]) / s.requests;
    return { ratio: cpuF / cpuS };
  } finally {
    for (const p of procs) await stop(p.child);
  }
}
