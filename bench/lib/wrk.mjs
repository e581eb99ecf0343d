// Drives one wrk run (one thread, pinned to the load core) and parses the line load.lua prints.
import { fileURLToPath } from 'node:url';
import { pin, runToEnd } from './procs.mjs';

const SCRIPT = fileURLToPath(new URL('./load.lua', import.meta.url));

/**
 * @param {object} o
 * @param {number} o.port
 * @param {number} o.seconds   duration
 * @param {number} o.connections
 * @param {Record<string,string>} o.env  BENCH_* variables for load.lua
 * @param {number} [o.timeoutS] wrk's per-request timeout
 */
export async function wrk({ port, seconds, connections, env, timeoutS = 5, core, pinning }) {
  // biome-ignore format: flag pairs
  const args = [...pin(core, pinning), 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', `${timeoutS}s`,
    '-s', SCRIPT, `http://127.0.0.1:${port}`];
  const [cmd, ...rest] = args;
  const out = await runToEnd(cmd, rest, {
    env: { ...process.env, ...env },
    timeoutMs: (seconds + timeoutS + 30) * 1000,
  });
  const m = /BENCH_RESULT (\{.*\})/.exec(out);
  if (!m) throw new Error(`wrk printed no result:\n${out}`);
  const r = JSON.parse(m[1]);
  const secs = r.duration_us / 1e6;
  const errors = r.connect_errors + r.read_errors + r.write_errors + r.status_errors + r.timeouts + r.exchange_failures;
  return {
    rps: r.requests / secs,
    exchangesPerSec: r.exchanges / secs,
    requests: r.requests,
    errors,
    p50Ms: r.p50_us / 1000,
    p99Ms: r.p99_us / 1000,
    raw: r,
  };
}
