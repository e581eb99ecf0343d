// Group `growth`: one long-running client_credentials row per store (memory, then PostgreSQL,
// MariaDB, SQLite, MongoDB), so tokens pile up for their whole lifetime (an hour: none expires
// during the row) and the report shows what the growing store costs: req/s, p50, p99 and the
// server's RSS slice by slice. The first slice (a fresh store, after a short warm-up) is the row's
// own reference; the target (issue 13, memory stores) is that p99 while the store grows stays
// within 1.5x of it. The database rows are reported.
import { launch } from './measure.mjs';
import { stop } from './procs.mjs';
import { E, STORE_GROUPS } from './scenarios.mjs';
import { startStore } from './stores.mjs';
import { wrk } from './wrk.mjs';

/** Seconds per slice, and slices per run: full 18 x 5 s (about a million tokens), quick 4 x 3 s. */
function shape(ctx) {
  return ctx.opts.quick ? { sliceS: 3, slices: 4, warmS: 2 } : { sliceS: 5, slices: 18, warmS: 3 };
}

async function rssMiB(port) {
  const r = await fetch(`http://127.0.0.1:${port}/__stats`);
  const body = await r.json();
  return body.rss / 2 ** 20;
}

/**
 * The growth row on the memory stores and then on each database (clients and tokens in it, codes
 * in Redis, as in the store groups), one process each, its store never emptied.
 * @returns the slices of each store, by store name.
 */
export async function runGrowth(ctx) {
  const out = { memory: await growOne(ctx, 'memory', {}) };
  for (const store of STORE_GROUPS) {
    const cleanups = [];
    try {
      ctx.log(`growth: starting the servers of ${store}`);
      const { instances } = await startStore(ctx, store, cleanups);
      out[store] = await growOne(ctx, store, instances.portcullis);
    } finally {
      for (const c of cleanups.reverse()) await c().catch(() => {});
    }
  }
  return out;
}

async function growOne(ctx, store, env) {
  const { sliceS, slices, warmS } = shape(ctx);
  const e = E.pcNodeCc;
  ctx.log(`group growth (${store}): ${e.id} for ${slices} x ${sliceS} s on one process, tokens never expiring during the row`);
  const proc = await launch(ctx, e.server, env);
  try {
    const run = (seconds) =>
      wrk({ port: proc.port, seconds, connections: e.connections, env: e.load, core: ctx.LOAD_CORE, pinning: ctx.pinning });
    const warm = await run(warmS);
    let tokens = warm.requests - warm.errors;
    const rows = [];
    for (let i = 0; i < slices; i++) {
      const r = await run(sliceS);
      if (proc.child.exitCode !== null) throw new Error(`growth (${store}): the server died:\n${proc.child.output}`);
      tokens += r.requests - r.errors;
      const row = { slice: i + 1, tokens, rps: r.rps, p50Ms: r.p50Ms, p99Ms: r.p99Ms, errors: r.errors, rssMiB: await rssMiB(proc.port) };
      rows.push(row);
      ctx.log(
        `  ${store} slice ${row.slice}: ${Math.round(row.rps).toLocaleString('en')}/s  p99 ${row.p99Ms.toFixed(2)} ms  ${row.tokens.toLocaleString('en')} tokens  RSS ${row.rssMiB.toFixed(0)} MiB`,
      );
    }
    return summarize(rows, sliceS);
  } finally {
    await stop(proc.child);
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * The figures the report compares: the first slice (fresh) against the last third of the row
 * (the store at its largest), each third's p99 as the median of its slices' p99s, and the worst
 * slice, shown beside it so one long pause is not hidden by the median.
 */
function summarize(rows, sliceS) {
  const third = Math.max(1, Math.floor(rows.length / 3));
  const last = rows.slice(-third);
  return {
    sliceS,
    rows,
    first: rows[0],
    lastP99Ms: median(last.map((r) => r.p99Ms)),
    lastRps: median(last.map((r) => r.rps)),
    worstP99Ms: Math.max(...rows.map((r) => r.p99Ms)),
    tokens: rows.at(-1).tokens,
    rssMiB: rows.at(-1).rssMiB,
    errors: rows.reduce((n, r) => n + r.errors, 0),
  };
}
