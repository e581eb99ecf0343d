/**
 * `pnpm chaos [--seconds N]` (default 30): three app processes (STATE_STORE=shared) on one
 * PostgreSQL and one Redis from the testkit's launchers, under a bounded load of browser-like
 * code flows and client-credentials requests, while it
 *
 * 1. kills one app process (SIGKILL) and starts a new one (with `spare`, one started beforehand),
 * 2. stops Redis and starts it again (empty: the launcher keeps no data),
 * 3. stops PostgreSQL (fast shutdown) and starts it again on the same data directory.
 *
 * The faults come one after the other: each waits until the previous one has recovered (or its
 * recovery limit has passed), so each recovery is measured on its own.
 *
 * It prints requests, 5xx other than 503 (must be 0), 503s, connection errors (a killed process),
 * the longest recovery (from a restart until every process issues a token again and a new
 * browser signs in across processes and gets a code redeemed) next to the same measure taken
 * before any fault (its floor on this machine under this load), acknowledged
 * tokens lost (every token answered with 200 must still be accepted at the end, unless revoked:
 * an access token by `/api/me`, a refresh token by introspection)
 * and codes redeemed twice (must be 0); it exits 1 when a must-be-0 figure is not 0 or a fault
 * never recovered. Every loop is bounded in time; traffic goes to 127.0.0.1 only.
 *
 * `runChaos()` is what examples/provider/test/chaos.test.ts calls.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listening, type SpawnedServer, spawnServer, startPostgres, startRedis } from '@portcullis/binding-testkit/servers';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const CLIENT = 'chaos-app';
const SECRET = randomBytes(18).toString('base64url');
const BASIC = `Basic ${Buffer.from(`${CLIENT}:${SECRET}`).toString('base64')}`;
const USER = { username: 'chaos', password: randomBytes(12).toString('base64url'), subject: 'u-chaos' };
const CB = 'http://127.0.0.1:9/cb';
const REQUEST_TIMEOUT_MS = 5000;
/** How long a fault may take to recover before it counts as not recovered (default). */
const RECOVERY_LIMIT_MS = 30_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ChaosOptions {
  /** Length of the load phase (faults included). Default 30. */
  seconds?: number;
  /** Concurrent load loops. Default 6. */
  workers?: number;
  /** Progress lines. Default: stderr. */
  log?: (line: string) => void;
  /** ms a fault may take to recover before it counts as not recovered (`null`). Default 30 000. */
  recoveryLimitMs?: number;
  /**
   * Start the process that replaces the killed one together with the first three (out of the
   * rotation until the kill), instead of after the kill: the run then does not wait for a node
   * start under load (the CI test). Default `false`: started after the kill, as a supervisor would.
   */
  spare?: boolean;
  /** Take the recovery measure once before the first fault (`baselineMs`). Default `true`. */
  baseline?: boolean;
}

export interface ChaosReport {
  requests: number;
  /** 5xx answers other than 503 (must be 0). */
  serverErrors: number;
  /** 503 temporarily_unavailable answers (expected while a store is down). */
  unavailable: number;
  /** Requests that got no HTTP answer (the killed process, a timeout). */
  connectionErrors: number;
  tokensIssued: number;
  /** Per fault: ms from its restart until every process issued a token again (`null`: not within the recovery limit). */
  recoveries: Record<string, number | null>;
  longestRecoveryMs: number | null;
  /** The same measure before any fault (one flow under the load): what a recovery cannot go below; `null` when not taken. */
  baselineMs: number | null;
  /** Tokens answered with 200 that did not introspect active at the end (unless revoked). */
  acknowledgedTokensLost: number;
  /** Codes for which more than one redemption got 200. */
  codesRedeemedTwice: number;
  /** The recovery limit the run used, ms. */
  recoveryLimitMs: number;
  /** The must-be-0 figures are 0 and every fault recovered. */
  ok: boolean;
}

interface Proc {
  url: string;
  child: ChildProcess;
}

/** The app processes' `error` log lines (the app logs no secrets), for the report when a 5xx was answered. */
const errorLines: string[] = [];

function startApp(env: Record<string, string>, children: ChildProcess[]): Promise<Proc> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'src/main.ts'], {
    cwd: PACKAGE_DIR,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DEMO: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  const collect = (d: Buffer) => {
    out = (out + d).slice(-20_000);
    for (const line of String(d).split('\n')) {
      if (line.includes('"level":"error"') && errorLines.length < 20) errorLines.push(line.slice(0, 1000));
    }
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  return (async () => {
    const end = Date.now() + 60_000;
    for (;;) {
      const m = /provider on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) return { url: m[1]!, child };
      if (child.exitCode !== null || Date.now() > end) throw new Error(`the app did not start:\n${out}`);
      await sleep(50);
    }
  })();
}

/** uid and gid of the `postgres` account (PostgreSQL refuses to run as root). */
async function postgresIds(): Promise<{ uid?: number; gid?: number }> {
  if (process.getuid?.() !== 0) return {};
  for (const line of (await readFile('/etc/passwd', 'utf8')).split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === 'postgres') return { uid: Number(uid), gid: Number(gid) };
  }
  throw new Error('no postgres account');
}

type Answer = { status: number; body: Record<string, unknown>; location: string | null };

class Counters {
  requests = 0;
  serverErrors = 0;
  unavailable = 0;
  connectionErrors = 0;
  serverErrorSamples: string[] = [];
}

/** One HTTP request, counted; `null` when no answer came (connection refused, timeout). */
async function request(
  c: Counters,
  url: string,
  init: RequestInit & { cookie?: string } = {},
): Promise<(Answer & { setCookie: string[] }) | null> {
  c.requests++;
  const headers = new Headers(init.headers);
  if (init.cookie) headers.set('cookie', init.cookie);
  try {
    const r = await fetch(url, { ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const text = await r.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = { page: text };
    }
    if (r.status === 503) c.unavailable++;
    else if (r.status >= 500) {
      c.serverErrors++;
      if (c.serverErrorSamples.length < 5) {
        c.serverErrorSamples.push(`${new Date().toISOString()} ${r.status} ${new URL(url).pathname} ${text.slice(0, 200)}`);
      }
    }
    return { status: r.status, body, location: r.headers.get('location'), setCookie: r.headers.getSetCookie() };
  } catch {
    c.connectionErrors++;
    return null;
  }
}

const form = (params: Record<string, string>) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: BASIC },
  body: new URLSearchParams(params).toString(),
});

function field(page: string, name: string): string | null {
  const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(page);
  return m
    ? m[1]!
        .replace(/&amp;/g, '&')
        .replace(/&quot;/g, '"')
        .replace(/&#39;/g, "'")
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
    : null;
}

/** A browser of one worker: its cookies, every request to the next process. */
class Browser {
  private cookies = new Map<string, string>();
  /** The step a failed `code()` stopped at. */
  failure = '';
  private n = 0;
  constructor(
    private readonly c: Counters,
    private readonly urls: () => readonly string[],
  ) {}
  base(): string {
    const u = this.urls();
    return u[this.n++ % u.length]!;
  }
  async go(path: string, params?: Record<string, string>) {
    const r = await request(this.c, `${this.base()}${path}`, {
      ...(params
        ? { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params).toString() }
        : {}),
      cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
    });
    for (const sc of r?.setCookie ?? []) {
      const pair = sc.split(';')[0]!;
      const eq = pair.indexOf('=');
      if (/max-age=0/i.test(sc)) this.cookies.delete(pair.slice(0, eq));
      else this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return r;
  }
  /** Authorize → (login) → consent → code; `null` at the first step that did not go as a healthy server answers. */
  async code(): Promise<{ code: string; verifier: string } | null> {
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: CLIENT,
      redirect_uri: CB,
      scope: 'read',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    let r = await this.go(`/oauth/authorize?${query}`);
    if (r?.status === 302 && r.location && new URL(r.location, 'http://x').pathname === '/login') {
      const login = await this.go(new URL(r.location, 'http://x').pathname + new URL(r.location, 'http://x').search);
      const page = String(login?.body.page ?? '');
      const csrf = field(page, 'csrf');
      if (login?.status !== 200 || !csrf) {
        this.failure = `login page: ${login?.status}`;
        return null;
      }
      const signed = await this.go('/login', {
        csrf,
        username: USER.username,
        password: USER.password,
        return_to: field(page, 'return_to') ?? '/',
      });
      if (signed?.status !== 303 || !signed.location) {
        this.failure = `sign-in: ${signed?.status} ${String(signed?.body.error ?? signed?.body.page ?? '').slice(0, 300)}`;
        return null;
      }
      const back = new URL(signed.location, 'http://x');
      r = await this.go(back.pathname + back.search);
    }
    if (r?.status !== 200) {
      this.failure = `authorize: ${r?.status} ${r?.location ?? ''} ${String(JSON.stringify(r?.body ?? null)).slice(0, 200)}`;
      return null;
    }
    const page = String(r.body.page ?? '');
    const csrf = field(page, 'csrf');
    const consent = field(page, 'consent');
    if (!csrf || !consent) {
      this.failure = 'no consent form';
      return null;
    }
    const answer = await this.go('/oauth/authorize/decision', { csrf, consent, decision: 'approve' });
    if (answer?.status !== 302 || !answer.location?.startsWith(CB)) {
      this.failure = `decision: ${answer?.status} ${answer?.location ?? ''}`;
      return null;
    }
    const code = new URL(answer.location).searchParams.get('code');
    return code ? { code, verifier } : null;
  }
}

/** Runs the chaos scenario; starts and stops every server and process itself. */
export async function runChaos(options: ChaosOptions = {}): Promise<ChaosReport> {
  const seconds = options.seconds ?? 30;
  const workers = options.workers ?? 6;
  const recoveryLimitMs = options.recoveryLimitMs ?? RECOVERY_LIMIT_MS;
  if (!(recoveryLimitMs >= 1000 && recoveryLimitMs <= 600_000)) throw new RangeError('recoveryLimitMs must be between 1 s and 10 min');
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const children: ChildProcess[] = [];
  const c = new Counters();
  const setupStart = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-chaos-'));
  let pg: Awaited<ReturnType<typeof startPostgres>> | undefined;
  let pgAgain: SpawnedServer | undefined;
  let redis: Awaited<ReturnType<typeof startRedis>> | undefined;
  try {
    [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
    const seedFile = join(dir, 'seed.json');
    await writeFile(
      seedFile,
      JSON.stringify({
        clients: [
          {
            id: CLIENT,
            secret: SECRET,
            redirectUris: [CB],
            grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
            tokenEndpointAuthMethod: 'client_secret_basic',
            scopes: ['read', 'write'],
          },
        ],
        users: [USER],
      }),
    );
    const env = {
      ISSUER: 'http://auth.portcullis.test',
      DATABASE_URL: pg.url,
      GRANT_CACHE: redis.url,
      STATE_STORE: 'shared',
      SEED_FILE: seedFile,
      RATE_LIMIT_MAX_FAILURES_PER_IP: '0',
    };
    const first = await Promise.all((options.spare ? [0, 1, 2, 3] : [0, 1, 2]).map(() => startApp(env, children)));
    const procs = first.slice(0, 3);
    const spare = first[3];
    const urls = () => procs.map((p) => p.url);
    log(`processes started after ${((Date.now() - setupStart) / 1000).toFixed(1)} s`);
    log(`chaos: 3 processes on PostgreSQL ${pg.port} and Redis ${redis.port}, ${seconds} s, ${workers} workers`);

    /** Acknowledged tokens (access and refresh) by the code they came from ('' for client credentials). */
    const acknowledged: { token: string; code: string; kind: 'access' | 'refresh' }[] = [];
    const revoked = new Set<string>();
    const wins = new Map<string, number>();
    /** Codes a second redemption was tried for: core revokes their tokens on the replay (by design). */
    const replayed = new Set<string>();
    const redeem = async (base: string, code: { code: string; verifier: string }) => {
      const r = await request(
        c,
        `${base}/oauth/token`,
        form({ grant_type: 'authorization_code', code: code.code, redirect_uri: CB, code_verifier: code.verifier }),
      );
      if (r?.status === 200) {
        wins.set(code.code, (wins.get(code.code) ?? 0) + 1);
        acknowledged.push(
          { token: String(r.body.access_token), code: code.code, kind: 'access' },
          { token: String(r.body.refresh_token), code: code.code, kind: 'refresh' },
        );
      }
      return r;
    };
    const clientCredentials = async (base: string) => {
      const r = await request(c, `${base}/oauth/token`, form({ grant_type: 'client_credentials', scope: 'read' }));
      if (r?.status === 200) acknowledged.push({ token: String(r.body.access_token), code: '', kind: 'access' });
      return r?.status === 200;
    };

    const started = Date.now();
    log(`load started at ${new Date(started).toISOString()}`);
    const loadEnd = started + seconds * 1000;
    /** The load also goes on until the last fault has recovered, bounded (three recoveries and restarts). */
    let faultsDone = false;
    const hardEnd = loadEnd + 3 * recoveryLimitMs + 60_000;
    const loading = () => Date.now() < hardEnd && (Date.now() < loadEnd || !faultsDone);
    let iteration = 0;
    const worker = async (w: number) => {
      const b = new Browser(c, urls);
      while (loading()) {
        const i = iteration++;
        const code = await b.code();
        if (code) {
          if (i % 4 === 0) {
            // Two redemptions at once on two processes: one 200 at most.
            replayed.add(code.code);
            await Promise.all([redeem(b.base(), code), redeem(b.base(), code)]);
          } else {
            const r = await redeem(b.base(), code);
            if (r?.status === 200 && i % 5 === 1) {
              const token = String(r.body.refresh_token);
              const rv = await request(c, `${b.base()}/oauth/revoke`, form({ token }));
              // A revocation that may have reached the store counts as revoked.
              revoked.add(token);
              if (rv?.status === 200) revoked.add(String(r.body.access_token));
            }
          }
        } else {
          await sleep(100); // a step failed (a store is down): do not spin
        }
        await clientCredentials(b.base());
        if (w === 0 && i % 20 === 0) log(`  ${((Date.now() - started) / 1000).toFixed(1)} s, ${c.requests} requests`);
      }
    };

    /**
     * ms from now until every process (the ones running at each round: a replacement counts once
     * it listens) issues a client-credentials token and a new browser, whose every request goes to
     * the next process, gets a code through the pages and redeems it; `null` after the limit.
     */
    const recovery = async (): Promise<number | null> => {
      const start = Date.now();
      const done = new Set<number>();
      let flow = false;
      let last = '';
      const recovered = () => flow && done.size === procs.length;
      while (!recovered() && Date.now() - start < recoveryLimitMs) {
        for (const [i, u] of urls().entries()) if (!done.has(i) && (await clientCredentials(u))) done.add(i);
        if (!flow) {
          const probe = new Browser(c, urls);
          const code = await probe.code();
          const r = code && (await redeem(urls()[0]!, code));
          flow = r?.status === 200;
          last = code ? `redemption: ${r?.status} ${JSON.stringify(r?.body)}` : `no code: ${probe.failure}`;
        }
        if (!recovered()) await sleep(100);
      }
      if (!recovered()) log(`  not recovered: ${procs.length - done.size} process(es) without a token; ${flow ? 'flow ok' : last}`);
      return recovered() ? Date.now() - start : null;
    };

    const recoveries: Record<string, number | null> = {};
    const outage = Math.max(1000, seconds * 100); // 10 % of the run each
    const at = (fraction: number) => sleep(Math.max(0, started + seconds * 1000 * fraction - Date.now()));
    let baseline: number | null = null;
    const faults = (async () => {
      if (options.baseline !== false) {
        baseline = await recovery();
        log(`  baseline (no fault): ${baseline ?? 'none'} ms`);
      }
      await at(0.1);
      log(`fault at ${((Date.now() - started) / 1000).toFixed(1)} s: SIGKILL one app process, start a new one`);
      procs[1]!.child.kill('SIGKILL');
      const killed = Date.now();
      procs[1] = spare ?? (await startApp(env, children));
      log(`  new process listening after ${Date.now() - killed} ms`);
      recoveries['process killed'] = await recovery();
      log(`  recovery: ${recoveries['process killed'] ?? 'none'} ms`);
      await at(0.3);
      log(`fault at ${((Date.now() - started) / 1000).toFixed(1)} s: Redis stopped for ${outage} ms`);
      await redis!.stop();
      await sleep(outage);
      await redis!.restart();
      recoveries['Redis restarted (empty)'] = await recovery();
      log(`  recovery: ${recoveries['Redis restarted (empty)'] ?? 'none'} ms`);
      await at(0.6);
      log(`fault at ${((Date.now() - started) / 1000).toFixed(1)} s: PostgreSQL stopped for ${outage} ms`);
      const ids = await postgresIds();
      const pid = Number((await readFile(join(pg!.dir, 'data', 'postmaster.pid'), 'utf8')).split('\n')[0]);
      process.kill(pid, 'SIGINT'); // fast shutdown
      const gone = Date.now() + 15_000;
      while (Date.now() < gone && (await listening(pg!.port))) await sleep(100);
      await sleep(outage);
      const version = (await readFile(join(pg!.dir, 'data', 'PG_VERSION'), 'utf8')).trim();
      // biome-ignore format: one flag per line pair
      const args = [
        '-D', join(pg!.dir, 'data'), '-p', String(pg!.port), '-h', '127.0.0.1', '-k', pg!.dir,
        '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200',
      ];
      pgAgain = await spawnServer({
        name: 'postgres (restarted)',
        command: `/usr/lib/postgresql/${version}/bin/postgres`,
        args,
        ready: () => listening(pg!.port),
        startTimeoutMs: 30_000,
        stopSignal: 'SIGTERM',
        ...ids,
      });
      recoveries['PostgreSQL restarted'] = await recovery();
      log(`  recovery: ${recoveries['PostgreSQL restarted'] ?? 'none'} ms`);
    })().finally(() => {
      faultsDone = true;
    });
    await Promise.all([faults, ...Array.from({ length: workers }, (_, w) => worker(w))]);
    log(`load ended at ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // The end: every acknowledged token, unless revoked (by the load or by replay detection), is active.
    let lost = 0;
    const lostSamples: string[] = [];
    const toCheck = [...acknowledged.entries()].filter(([, a]) => !revoked.has(a.token) && !(a.code && replayed.has(a.code)));
    // Eight at a time: every check is one request with a timeout, so this ends.
    const checker = async () => {
      for (let next = toCheck.shift(); next; next = toCheck.shift()) {
        const [i, a] = next;
        // An access token at the API (no client authentication to hash), a refresh token by introspection.
        const base = urls()[i % 3];
        const r =
          a.kind === 'access'
            ? await request(c, `${base}/api/me`, { headers: { authorization: `Bearer ${a.token}` } })
            : await request(c, `${base}/oauth/introspect`, form({ token: a.token }));
        if (a.kind === 'access' ? r?.status !== 200 : r?.body.active !== true) {
          lost++;
          if (lostSamples.length < 5) lostSamples.push(`${r?.status ?? 'no answer'} ${JSON.stringify(r?.body)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, checker));
    log(`tokens checked at ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const codesRedeemedTwice = [...wins.values()].filter((n) => n > 1).length;
    const values = Object.values(recoveries);
    const longest = values.some((v) => v === null) ? null : Math.max(0, ...(values as number[]));
    const report: ChaosReport = {
      requests: c.requests,
      serverErrors: c.serverErrors,
      unavailable: c.unavailable,
      connectionErrors: c.connectionErrors,
      tokensIssued: acknowledged.length,
      recoveries,
      longestRecoveryMs: longest,
      baselineMs: baseline,
      recoveryLimitMs,
      acknowledgedTokensLost: lost,
      codesRedeemedTwice,
      ok: c.serverErrors === 0 && lost === 0 && codesRedeemedTwice === 0 && longest !== null && values.length === 3,
    };
    for (const s of c.serverErrorSamples) log(`  5xx: ${s}`);
    if (c.serverErrors > 0) for (const line of errorLines) log(`  app: ${line}`);
    for (const s of lostSamples) log(`  lost: ${s}`);
    return report;
  } finally {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await pgAgain?.stop().catch(() => {});
    await pg?.stop().catch(() => {});
    await redis?.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

export function formatReport(r: ChaosReport): string {
  return [
    `requests:                  ${r.requests}`,
    `5xx (other than 503):      ${r.serverErrors}   (must be 0)`,
    `503 unavailable:           ${r.unavailable}`,
    `connection errors:         ${r.connectionErrors}`,
    `tokens acknowledged:       ${r.tokensIssued}`,
    ...Object.entries(r.recoveries).map(
      ([k, v]) => `recovery, ${k}: ${v === null ? `none within ${r.recoveryLimitMs / 1000} s` : `${v} ms`}`,
    ),
    `longest recovery:          ${r.longestRecoveryMs === null ? 'none' : `${r.longestRecoveryMs} ms`}`,
    `same measure, no fault:    ${r.baselineMs === null ? 'none' : `${r.baselineMs} ms`}`,
    `acknowledged tokens lost:  ${r.acknowledgedTokensLost}   (must be 0)`,
    `codes redeemed twice:      ${r.codesRedeemedTwice}   (must be 0)`,
    r.ok ? 'OK' : 'FAILED',
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const i = process.argv.indexOf('--seconds');
  const seconds = i > 0 ? Number(process.argv[i + 1]) : 30;
  if (!(seconds >= 5 && seconds <= 3600)) {
    process.stderr.write('--seconds must be between 5 and 3600\n');
    process.exit(2);
  }
  runChaos({ seconds }).then(
    (r) => {
      process.stdout.write(`${formatReport(r)}\n`);
      process.exit(r.ok ? 0 : 1);
    },
    (err: unknown) => {
      process.stderr.write(`chaos run failed: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
