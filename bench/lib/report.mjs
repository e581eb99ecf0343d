// The report: one markdown table of medians and ratios, the targets and whether they are met,
// then the round trips, cost growth, memory and secret sections of the groups that ran.
import { loadavg } from 'node:os';
import { median, SLICE_S, value } from './measure.mjs';
import { allEntries, D, DPOP_ALGS, E, floorOf, J, JWT_ALGS, PG, SERVERS, ST, STORE_GROUPS, STORES, T } from './scenarios.mjs';

export function fmt(n) {
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
      [ratio(E.pcNodeCc, E.bareToken), 0.7, 'minimal token'],
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
    t['pc-express-res'] = { text: `≥0.95× Express hello: ${both(r)}`, pass: r.rps >= 0.95 };
  }
  if (Number.isFinite(E.pcExpressRoute.median)) {
    const r = ratio(E.pcExpressRoute, E.expressHello);
    t['pc-express-route'] = { text: `≥0.95× Express hello: ${both(r)}`, pass: r.rps >= 0.95 };
  }
  // JWT access tokens: each row against the floors measured beside it in the jwt groups.
  const measured = (...es) => es.every((e) => Number.isFinite(e.median));
  for (const inst of Object.keys(JWT_ALGS)) {
    const j = J[inst];
    if (measured(j.pcCc, j.floorSign, j.oidcCc)) {
      const parts = [
        [ratio(j.pcCc, j.floorSign), 0.8, 'bare SignJWT'],
        [ratio(j.pcCc, j.oidcCc), 2, 'oidc-provider (JWT)'],
      ];
      t[j.pcCc.id] = {
        text: parts.map(([r, min, who]) => `≥${min}× ${who}: ${both(r)}`).join('; '),
        pass: parts.every(([r, min]) => r.rps >= min),
      };
    }
    if (measured(j.rsFirst, j.floorVerify)) {
      const r = ratio(j.rsFirst, j.floorVerify);
      t[j.rsFirst.id] = { text: `≥0.8× bare jwtVerify: ${both(r)}`, pass: r.rps >= 0.8 };
    }
    if (measured(j.rsCached, J.hello)) {
      const r = ratio(j.rsCached, J.hello);
      t[j.rsCached.id] = { text: `≥0.5× bare hello (same group): ${both(r)}`, pass: r.rps >= 0.5 };
    }
  }
  // DPoP (issue 16): the bound resource check against the bare proof verification beside it.
  for (const inst of Object.keys(DPOP_ALGS)) {
    const d = D[inst];
    if (measured(d.pc, d.floor)) {
      const r = ratio(d.pc, d.floor);
      t[d.pc.id] = { text: `≥0.7× bare proof \`jwtVerify\`: ${both(r)}`, pass: r.rps >= 0.7 };
    }
  }
  // OpenTelemetry (issue 17): the default (on, no SDK) against `telemetry: false`, same group.
  if (measured(T.on, T.off)) {
    const r = ratio(T.on, T.off);
    const pct = (v) => `${(100 * (1 - v)).toFixed(1)}%`;
    // Both rows run on fresh processes in every round: the median of the rounds' own ratios too.
    const rounds = T.on.runs.map((on, i) => [on, T.off.runs[i]]).filter(([, off]) => off);
    const paired = {
      rps: median(rounds.map(([on, off]) => on.rps / off.rps)),
      cpu: median(rounds.map(([on, off]) => off.cpuUs / on.cpuUs)),
    };
    t[T.on.id] = {
      text: `overhead vs \`telemetry: false\` under 3%: ${both(r)}, i.e. ${pct(r.rps)} (CPU ${pct(r.cpu)}); median of the rounds' ratios ${both(paired)}`,
      pass: r.rps >= 0.97,
    };
  }
  if (measured(T.sdk, T.off)) {
    const r = ratio(T.sdk, T.off);
    t[T.sdk.id] = { text: `vs \`telemetry: false\` (informative): ${both(r)}` };
  }
  if (results.growth) {
    const g = results.growth;
    t['pg-res-large'] = { text: `p50 latency within 1.2× of 1,000 tokens: ${x(g.latencyRatio)}`, pass: g.latencyRatio <= 1.2 };
    t['pg-res-large-c1'] = { text: `p50 latency within 1.2× of 1,000 tokens: ${x(g.latencyRatio1)}`, pass: g.latencyRatio1 <= 1.2 };
  }
  // Each store: Portcullis against its floor, measured side by side in the same group.
  const minimum = { 'client_credentials token': 0.5, 'bearer-protected resource': 0.6, 'code exchange (authorize + token)': 0.5 };
  for (const store of STORE_GROUPS) {
    for (const [pc, floor] of floorOf(ST[store])) {
      if (!Number.isFinite(pc.median) || !Number.isFinite(floor.median)) continue;
      const r = ratio(pc, floor);
      const p99 = pc.p99 / floor.p99;
      const min = minimum[pc.scenario];
      const reportOnly = store === 'sqlite';
      t[pc.id] = {
        text: `${reportOnly ? '' : `≥${min}× `}floor: ${both(r)}; p99 ${x(p99)} the floor's${reportOnly ? '' : ' (≤2×)'}`,
        pass: reportOnly ? undefined : r.rps >= min && p99 <= 2,
      };
    }
  }
  if (results.roundTrips) {
    const tk = results.roundTrips.token;
    const total = tk.sql + tk.redis;
    const prev = t['pg-ex'];
    t['pg-ex'] = {
      text: `${prev ? `${prev.text}; ` : ''}token request: ${total} round trips, minimum 3 (see below)`,
      pass: (prev?.pass ?? true) && total === 3 && tk.wire === tk.sql && tk.monitor === tk.redis,
    };
  }
  return t;
}

export function report(ctx, results) {
  const { CFG, opts } = ctx;
  const ref = E.bareHello.median;
  const all = allEntries().filter((e) => e.runs.length > 0);
  const t = targets(results);
  const lines = [];
  const loadEnd = loadavg();
  lines.push(`Date: ${ctx.startedAt.toISOString()}  `);
  lines.push(`Machine: ${ctx.nproc} cores, ${ctx.cpuModel}, Node ${process.version}, ${ctx.wrkVersion}  `);
  lines.push(
    `Setup: ${ctx.pinning ? `server pinned to core ${ctx.SERVER_CORE}, wrk (1 thread) and the database servers and Redis pinned to core ${ctx.LOAD_CORE}` : 'no pinning'}; 50 connections over loopback; ` +
      `${CFG.runs} rounds per group, each with fresh server processes, each row warmed up until its rate is steady (median ${median(all.flatMap((e) => e.warmSteps ?? []))} s, at most ${CFG.warmMax} s) and ${CFG.seconds} s per row taken in ${SLICE_S} s slices round-robin, the order rotated each round; medians${opts.quick ? ' (--quick)' : ''}; ` +
      `Portcullis ${opts.source ? 'from TypeScript sources through tsx (--source)' : 'from its built dist/'}; NODE_ENV=production  `,
  );
  const foreignShares = ctx.foreignShares;
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
    `Load average at start ${ctx.loadStart.map((v) => v.toFixed(2)).join(' ')}, at end ${loadEnd.map((v) => v.toFixed(2)).join(' ')}` +
      (foreignShares.length > 0
        ? `; other processes used ${(100 * fMed).toFixed(0)}% (median; max ${(100 * fMax).toFixed(0)}%) of the server core during the measured runs` +
          (Number.isFinite(spread) ? `; median run-to-run spread of a row ${(100 * spread).toFixed(0)}%` : '') +
          (noisy ? ' — **the machine was busy: numbers are noisy**' : ' — quiet')
        : ''),
  );
  lines.push('');
  lines.push(
    "| scenario | stores | server | req/s (median) | runs | × bare hello | issue's × | p50 ms | p99 ms | server CPU µs/req | target (ratios in this run) | result |",
  );
  lines.push('|---|---|---|---:|---|---:|---:|---:|---:|---:|---|---|');
  for (const e of all) {
    const unit = e.metric === 'exchanges' ? ' exch/s' : '';
    const runs = e.runs.map((r) => fmt(value(e, r))).join(' / ');
    const toHello = Number.isFinite(ref) ? x(e.median / ref) : 'n/a';
    const issue = ISSUE_RATIO[e.id] !== undefined ? x(ISSUE_RATIO[e.id]) : '';
    const tg = t[e.id];
    const label =
      (e.floorRow ? STORES[e.store].floor : SERVERS[e.server].label) +
      (e.instance === 'large'
        ? ` — ${results.tables?.large.rows.toLocaleString('en')} tokens`
        : e.instance === 'small' && e.id.startsWith('pg-res-small')
          ? ' — 1,000 tokens'
          : '') +
      (e.note ?? '');
    const errs = e.errors ? ` (${e.errors} errors)` : '';
    lines.push(
      `| ${e.scenario} | ${e.stores} | ${label} | ${fmt(e.median)}${unit}${errs} | ${runs} | ${toHello} | ${issue} | ${e.p50.toFixed(2)} | ${e.p99.toFixed(2)} | ${e.cpu.toFixed(1)} | ${tg?.text ?? ''} | ${tg && tg.pass !== undefined ? (tg.pass ? 'PASS' : 'FAIL') : tg ? 'reported' : ''} |`,
    );
  }
  lines.push('');
  lines.push(
    'Code exchange rows count whole exchanges (one authorization request answered with a 302 and a code, then one token request redeeming it with PKCE S256 and getting an access and a refresh token): two HTTP requests each.',
  );

  if (results.paired) {
    lines.push('');
    lines.push('### Paired targets: both servers of a pair loaded at the same time on the server core');
    lines.push('');
    lines.push(
      "Ratio = the floor's server CPU time per request over the subject's (for oidc-provider: oidc-provider's over Portcullis's), each pair in fresh processes every round, loaded by two wrk runs at once. A slower or busier machine slows both servers of a pair alike, so these ratios move far less from round to round than those of rows measured one after the other.",
    );
    lines.push('');
    lines.push('| pair | target | ratio (median) | rounds | result |');
    lines.push('|---|---:|---:|---|---|');
    for (const p of results.paired) {
      lines.push(
        `| ${p.what} | ≥${p.min}× | ${x(p.ratio, 3)} | ${p.rounds.map((r) => r.ratio.toFixed(3)).join(' / ')} | ${p.pass ? 'PASS' : 'FAIL'} |`,
      );
    }
  }
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
      '| request | SQL statements (`pg` driver) | SQL statements executed (wire protocol) | Redis commands (client) | Redis commands (MONITOR) | total |',
    );
    lines.push('|---|---|---|---|---:|---:|');
    for (const [name, p] of Object.entries(rt)) {
      lines.push(
        `| ${name} | ${p.sql} (${kinds(p.sqlKinds)}) | ${p.wire} (${kinds(p.wireKinds)}) | ${p.redis} (${kinds(p.redisKinds)}) | ${p.monitor} | ${p.sql + p.redis} |`,
      );
    }
    lines.push('');
    lines.push(
      'Counted on a Portcullis server of its own whose PostgreSQL connection goes through a loopback proxy that reads the wire protocol: every simple `Query` and every `Execute` of the extended protocol (a statement prepared once and executed many times counts once per execution).',
    );
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
  if (results.tokenGrowth) {
    for (const [store, g] of Object.entries(results.tokenGrowth)) {
      const ratio99 = g.lastP99Ms / g.first.p99Ms;
      const verdict = store === 'memory' ? ` (target ≤1.5×: **${ratio99 <= 1.5 ? 'PASS' : 'FAIL'}**)` : ' (reported)';
      lines.push('');
      lines.push(
        `### Growth: client_credentials on ${store === 'memory' ? 'the memory stores' : store}, one process, ${g.rows.length} slices of ${g.sliceS} s, tokens kept for their lifetime`,
      );
      lines.push('');
      lines.push('| slice | live tokens | req/s | p50 ms | p99 ms | server RSS MiB |');
      lines.push('|---:|---:|---:|---:|---:|---:|');
      for (const r of g.rows) {
        lines.push(
          `| ${r.slice} | ${r.tokens.toLocaleString('en')} | ${fmt(r.rps)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.rssMiB.toFixed(0)} |`,
        );
      }
      lines.push('');
      lines.push(
        `p99 over the last third of the row (median of its slices) ${g.lastP99Ms.toFixed(2)} ms against ${g.first.p99Ms.toFixed(2)} ms in the first slice: ${x(ratio99)}${verdict}; ` +
          `worst slice ${g.worstP99Ms.toFixed(2)} ms; req/s ${fmt(g.lastRps)} against ${fmt(g.first.rps)}; ` +
          `${g.tokens.toLocaleString('en')} live tokens, RSS ${g.rssMiB.toFixed(0)} MiB${g.errors ? `; ${g.errors} errors` : ''}.`,
      );
    }
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
  if (results.telemetry) {
    const tm = results.telemetry;
    const line = (name, p) =>
      `| ${name} | ${p.onUs.toFixed(1)} | ${p.offUs.toFixed(1)} | ${x(p.ratio, 3)} (${p.ratio >= 1 ? '+' : ''}${(100 * (p.ratio - 1)).toFixed(1)}%) | ${p.pairs} |`;
    lines.push('');
    lines.push(`### OpenTelemetry overhead in process (\`provider.token()\`, client_credentials, memory stores, blocks of ${tm.block})`);
    lines.push('');
    lines.push('| | CPU µs/request, `telemetry` on (median block) | `telemetry: false` | on / off (median of the pairs) | pairs |');
    lines.push('|---|---:|---:|---:|---:|');
    lines.push(line('no SDK registered', tm.noSdk));
    lines.push(line('SDK registered (context manager, tracer, meter)', tm.sdk));
    lines.push('');
    lines.push(
      `Target (issue 17): no SDK, within noise and under 3%: ${tm.noSdk.ratio <= 1.03 ? 'met' : '**not met**'}. With the SDK registered, the \`telemetry: false\` figure includes what the SDK's context manager (AsyncLocalStorage) costs every promise in the process.`,
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
