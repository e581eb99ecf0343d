/**
 * Operating the app: health checks, the server's timeouts (slow clients), and the graceful stop on
 * SIGTERM, which is tested on the app started as a child process the way `pnpm start` runs it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { basicAuth } from '@portcullis/binding-testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { type Started, startApp, TEST_SEED, TRICKY_SECRET } from './helpers.js';

const BASIC = basicAuth('interop-app', TRICKY_SECRET);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const started: Started[] = [];
afterAll(async () => {
  await Promise.allSettled(started.map((s) => s.close()));
});

async function start(env: Record<string, string> = {}): Promise<Started> {
  const s = await startApp(env);
  started.push(s);
  return s;
}

describe('health checks', () => {
  it('/healthz says the process is up, /readyz that the stores answer; neither is in the request log', async () => {
    const { app, logs } = await start();
    const h = await fetch(`${app.url}/healthz`);
    expect(h.status).toBe(200);
    expect(await h.json()).toEqual({ status: 'ok' });
    const r = await fetch(`${app.url}/readyz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: 'ready', checks: { database: 'ok', grantCache: 'ok' } });
    expect((await fetch(`${app.url}/favicon.ico`)).status).toBe(204);
    const requests = logs.map((l) => JSON.parse(l) as { msg: string; path?: string }).filter((l) => l.msg === 'request');
    // The request after them is logged, so they would have been by now.
    expect(requests.map((l) => l.path)).toEqual(['/favicon.ico']);
  });

  it('/readyz answers 503 naming the database once it is unreachable', async () => {
    const { app, logs } = await start();
    await app.storage.close();
    const r = await fetch(`${app.url}/readyz`);
    expect(r.status).toBe(503);
    expect(await r.json()).toEqual({ status: 'unavailable', failed: ['database'], checks: { database: 'unreachable', grantCache: 'ok' } });
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
    expect(logs.some((l) => l.includes('"readiness check failed"') && l.includes('"store":"database"'))).toBe(true);
  });

  it('/readyz answers 503 naming the grant cache when its Redis server is unreachable', async () => {
    const { app } = await start({ GRANT_CACHE: `redis://127.0.0.1:${await closedPort()}` });
    const r = await fetch(`${app.url}/readyz`);
    expect(r.status).toBe(503);
    expect(await r.json()).toMatchObject({ failed: ['grantCache'], checks: { database: 'ok', grantCache: 'unreachable' } });
  });
});

describe('server timeouts', () => {
  it('drops sockets that send their headers byte by byte, and keeps answering others meanwhile', async () => {
    const { app } = await start({ HEADERS_TIMEOUT: '2', REQUEST_TIMEOUT: '5' });
    const port = Number(new URL(app.url).port);
    const t0 = Date.now();
    const slow = Array.from({ length: 4 }, () => {
      const socket: Socket = connect(port, '127.0.0.1');
      let received = '';
      let open = true;
      socket.on('data', (d) => {
        received += d.toString('latin1');
      });
      socket.on('error', () => {});
      const closed = new Promise<number>((resolve) =>
        socket.on('close', () => {
          open = false;
          resolve(Date.now() - t0);
        }),
      );
      const text =
        'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
      const drip = (async () => {
        // One byte every 100 ms: never a whole header block. At most the text, at most 10 s.
        for (let i = 0; i < text.length && open && Date.now() - t0 < 10_000; i++) {
          socket.write(text[i]!);
          await sleep(100);
        }
      })();
      return { socket, closed, drip, received: () => received, isOpen: () => open };
    });
    // Others are served while the slow sockets are held open.
    const times: number[] = [];
    while (slow.some((s) => s.isOpen()) && Date.now() - t0 < 8000) {
      const t = Date.now();
      const r = await fetch(`${app.url}/.well-known/oauth-authorization-server`);
      expect(r.status).toBe(200);
      await r.arrayBuffer();
      times.push(Date.now() - t);
      await sleep(100);
    }
    const closedAt = await Promise.all(slow.map((s) => s.closed));
    await Promise.all(slow.map((s) => s.drip));
    for (const s of slow) s.socket.destroy();
    expect(times.length).toBeGreaterThan(5);
    expect(Math.max(...times)).toBeLessThan(1000);
    for (const [i, ms] of closedAt.entries()) {
      // Not before the headers timeout, and not long after it (node looks every 500 ms here).
      expect(ms).toBeGreaterThanOrEqual(1900);
      expect(ms).toBeLessThan(4500);
      expect(slow[i]!.received()).toMatch(/^HTTP\/1\.1 408 /);
    }
  });
});

describe('SIGTERM', () => {
  const cwd = fileURLToPath(new URL('..', import.meta.url));
  let child: ChildProcess | undefined;
  let dir: string | undefined;
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('stops accepting, lets a token request in flight finish, cuts one that outlives the grace time, exits 0', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-sigterm-'));
    const seedFile = join(dir, 'seed.json');
    await writeFile(seedFile, JSON.stringify(TEST_SEED));
    const proc = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'src/main.ts'], {
      cwd,
      env: {
        ...process.env,
        PORT: '0',
        HOST: '127.0.0.1',
        DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}`,
        SEED_FILE: seedFile,
        DEMO: '0',
        SHUTDOWN_GRACE: '3',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let out = '';
    let err = '';
    proc.stdout!.on('data', (d) => {
      out += d;
    });
    proc.stderr!.on('data', (d) => {
      err += d;
    });
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    const until = async (what: string, ok: () => boolean, ms: number) => {
      const end = Date.now() + ms;
      while (!ok()) {
        if (Date.now() > end || proc.exitCode !== null) throw new Error(`${what}: not seen in ${ms} ms\nstdout: ${out}\nstderr: ${err}`);
        await sleep(50);
      }
    };
    await until('listening', () => /provider on http:\/\/127\.0\.0\.1:\d+/.test(err), 30_000);
    const port = Number(/provider on http:\/\/127\.0\.0\.1:(\d+)/.exec(err)![1]);

    // Two token requests whose bodies are still on their way: both in flight.
    const body = new URLSearchParams({ grant_type: 'client_credentials', scope: 'read' }).toString();
    const inFlight = () => {
      let answered: (v: { status: number; connection: string | undefined; body: string }) => void;
      let failed: (e: Error) => void;
      const response = new Promise<{ status: number; connection: string | undefined; body: string }>((res, rej) => {
        answered = res;
        failed = rej;
      });
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/oauth/token',
          agent: false,
          headers: { authorization: BASIC, 'content-type': 'application/x-www-form-urlencoded', 'content-length': body.length },
        },
        (res) => {
          let text = '';
          res.on('data', (d) => {
            text += d;
          });
          res.on('end', () => answered({ status: res.statusCode!, connection: res.headers.connection, body: text }));
        },
      );
      req.on('error', (e) => failed(e));
      req.write(body.slice(0, 10));
      return { req, response };
    };
    const finishing = inFlight();
    const stalled = inFlight();
    stalled.response.catch(() => {});
    await sleep(500); // both reach the app's handler
    proc.kill('SIGTERM');
    await until('shutting down', () => out.includes('"msg":"shutting down"'), 5000);
    expect(out).toMatch(/"msg":"shutting down","inFlight":2,"graceSeconds":3/);

    // New connections are refused while the two drain.
    const refused = await new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.on('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    expect(refused).toBe('ECONNREFUSED');

    // The first one completes: a token, and the connection is closed after it.
    finishing.req.end(body.slice(10));
    const done = await finishing.response;
    expect(done.status).toBe(200);
    expect(JSON.parse(done.body)).toMatchObject({ token_type: 'Bearer', scope: 'read' });
    expect(done.connection).toBe('close');

    // The other never sends the rest: cut at the end of the grace time, and the process exits 0.
    await expect(stalled.response).rejects.toThrow();
    const code = await Promise.race([exited, sleep(10_000).then(() => 'still running')]);
    expect(code).toBe(0);
    expect(out).toMatch(/"msg":"shutdown grace time over: cutting the requests still in flight","cut":1/);
    expect(out).toMatch(/"msg":"stopped","cut":1/);
  });
});
