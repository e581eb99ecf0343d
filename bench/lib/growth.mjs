// Group `growth`: one long-running client_credentials row on the memory stores, so tokens pile up
// for their whole lifetime (an hour: none expires during the row) and the report shows what the
// growing store costs: req/s, p50, p99 and RSS slice by slice. The first slice (a fresh store,
// after a short warm-up) is the row's own reference; the target (issue 13) is that p99 while the
// store grows stays within 1.5x of it.
import { launch } from './measure.mjs';
import { stop } from './procs.mjs';
import { E } from './scenarios.mjs';
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

/** Runs the growth row once (one process, its store never emptied) and returns its slices. */
export async function runGrowth(ctx) {
  const { sliceS, slices, warmS } = shape(ctx);
  const e = E.pcNodeCc;
  ctx.log(`group growth: ${e.id} for ${slices} x ${sliceS} s on one process, tokens never expiring during the row`);
  const proc = await launch(ctx, e.server);
  try {
    const run = (seconds) =>
      wrk({ port: proc.port, seconds, connections: e.connections, env: e.load, core: ctx.LOAD_CORE, pinning: ctx.pinning });
    const warm = await run(warmS);
    let tokens = warm.requests - warm.errors;
    const rows = [];
    for (let i = 0; i < slices; i++) {
      const r = await run(sliceS);
      if (proc.child.exitCode !== null) throw new Error(`growth: the server died:\n${proc.child.output}`);
      tokens += r.requests - r.errors;
      const row = { slice: i + 1, tokens, rps: r.rps, p50Ms: r.p50Ms, p99Ms: r.p99Ms, errors: r.errors, rssMiB: await rssMiB(proc.port) };
      rows.push(row);
      ctx.log(
        `  slice ${row.slice}: ${Math.round(row.rps).toLocaleString('en')}/s  p99 ${row.p99Ms.toFixed(2)} ms  ${row.tokens.toLocaleString('en')} tokens  RSS ${row.rssMiB.toFixed(0)} MiB`,
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
