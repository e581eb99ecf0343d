import type { IncomingMessage, ServerResponse } from 'node:http';
import { SECURITY_HEADERS, sendJson, splitUrl } from './http-util.js';
import { type AppLogger, describeError } from './log.js';

/** A readiness check: resolves when its store answers. */
export type Probe = () => Promise<void>;

export interface HealthOptions {
  logger: AppLogger;
  /** `starting` until the app serves, `draining` once it shuts down. */
  state: () => 'starting' | 'serving' | 'draining';
  /** The stores `/readyz` checks, by the name it reports. */
  probes: Readonly<Record<string, Probe>>;
  /** Most time one probe may take before it counts as failed. Default 2 s. */
  timeoutMs?: number;
}

/**
 * `GET /healthz`: the process is up (200 as long as it answers at all, also while starting and
 * draining). `GET /readyz`: it can serve: started (tables migrated, seed applied), not draining,
 * and every store answered one cheap round trip; otherwise 503 JSON naming what failed. Probes
 * running when another readiness check comes in are shared, so a busy load balancer costs one
 * round trip per store at a time. Neither is written to the request log; a failed store is
 * logged as a warning.
 */
export function createHealth(o: HealthOptions) {
  const timeoutMs = o.timeoutMs ?? 2000;
  const running = new Map<string, Promise<string | null>>();

  /** `null` when the store answered, else why not (for the log). */
  function check(name: string, probe: Probe): Promise<string | null> {
    let p = running.get(name);
    if (p) return p;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`no answer within ${timeoutMs} ms`), timeoutMs);
    });
    p = Promise.race([
      probe().then(
        () => null,
        (err: unknown) => describeError(err),
      ),
      timeout,
    ]).finally(() => {
      clearTimeout(timer);
      running.delete(name);
    });
    running.set(name, p);
    return p;
  }

  async function ready(res: ServerResponse): Promise<void> {
    const state = o.state();
    if (state !== 'serving') {
      sendJson(res, 503, { status: state }, { 'Retry-After': '1' });
      return;
    }
    const names = Object.keys(o.probes);
    const errors = await Promise.all(names.map((n) => check(n, o.probes[n]!)));
    const failed = names.filter((_, i) => errors[i] !== null);
    if (failed.length === 0) {
      sendJson(res, 200, { status: 'ready', checks: Object.fromEntries(names.map((n) => [n, 'ok'])) });
      return;
    }
    for (const n of failed) o.logger.warn('readiness check failed', { store: n, error: errors[names.indexOf(n)] });
    sendJson(res, 503, {
      status: 'unavailable',
      failed,
      checks: Object.fromEntries(names.map((n, i) => [n, errors[i] === null ? 'ok' : 'unreachable'])),
    });
  }

  return {
    /** Answers `/healthz` and `/readyz` (GET or HEAD) and returns `true`; `false` for anything else. */
    handle(req: IncomingMessage, res: ServerResponse): boolean {
      if (req.method !== 'GET' && req.method !== 'HEAD') return false;
      const { path } = splitUrl(req.url);
      if (path !== '/healthz' && path !== '/readyz') return false;
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
      if (path === '/healthz') sendJson(res, 200, { status: 'ok' });
      else
        void ready(res).catch(() => {
          if (!res.headersSent) sendJson(res, 503, { status: 'unavailable' });
        });
      return true;
    },
  };
}
