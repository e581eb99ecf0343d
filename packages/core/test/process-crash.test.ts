/**
 * Process-level: a server built like the README's quick start (node:http + toNodeHandler +
 * requireOAuth, memory stores), and an Express 5 app with requireOAuth and withOAuth, each in a
 * process of its own, get a bounded batch of hostile requests: the reported crash (a repeated
 * parameter whose long name carries a CR, which reached `WWW-Authenticate`) in a form body and in
 * the query string, and a fixed sample of the fuzz suite's requests. Afterwards the process must
 * still be running and answer a normal token request and resource check correctly, and every
 * hostile request must have had an answer that passes the fuzz suite's checks (no 5xx, JSON error
 * bodies with a registered code and a clean description, clean header values).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { CRASH_NAME, crashSpec, describeSpec, type Route, type Spec, spec, type Tokens } from './fuzz/arbitraries.js';
import { responseProblems } from './fuzz/checks.js';
import { type Received, refusedByNode, sendRaw, wireBytes } from './fuzz/targets.js';
import { basic } from './helpers.js';

const CORE_DIR = fileURLToPath(new URL('..', import.meta.url));
const APP_SECRET = 'quick-start-secret-0123456789abcdef';
/** How many generated requests each server gets, besides the reproductions. */
const SAMPLE = 60;
const START_TIMEOUT_MS = 30_000;

interface Server {
  readonly child: ChildProcess;
  readonly port: number;
  /** Everything the process wrote to stderr (its crash, if any). */
  stderr(): string;
  alive(): boolean;
}

const started: ChildProcess[] = [];
afterEach(() => {
  for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** Starts a fixture under tsx (source of core, as the example provider runs) and waits for its port. */
function start(fixture: string): Promise<Server> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', `test/fixtures/${fixture}`], {
    cwd: CORE_DIR,
    env: { ...process.env, APP_SECRET, NODE_ENV: 'test' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString('utf8');
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${fixture} did not start within ${START_TIMEOUT_MS} ms: ${err}`)), START_TIMEOUT_MS);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      const m = /LISTENING (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), stderr: () => err, alive });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${fixture} exited before listening (${code ?? signal}): ${err}`));
    });
  });
}

function request(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Received> {
  const lines = [`${method} ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  if (body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  lines.push('Connection: close', '', '');
  return sendRaw(port, Buffer.from(lines.join('\r\n') + (body ?? ''), 'latin1'), method === 'HEAD', 5000);
}

/** The curl line of the report, byte for byte: `--data "$N=1&$N=2"` with N = 30 a, %0D, 24 b. */
const N = encodeURIComponent(CRASH_NAME);
const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };

interface Hostile {
  readonly label: string;
  readonly head: boolean;
  readonly send: (port: number) => Promise<Received>;
}

function reproductions(paths: readonly string[]): Hostile[] {
  const out: Hostile[] = [];
  for (const path of paths) {
    out.push({ label: `POST ${path} body $N=1&$N=2`, head: false, send: (port) => request(port, 'POST', path, FORM, `${N}=1&${N}=2`) });
    out.push({
      label: `GET ${path}?access_token=x&$N=1&$N=2`,
      head: false,
      send: (port) => request(port, 'GET', `${path}?access_token=x&${N}=1&${N}=2`),
    });
  }
  for (const path of ['/oauth/token', '/oauth/revoke', '/oauth/introspect']) {
    out.push({ label: `POST ${path} body $N=1&$N=2`, head: false, send: (port) => request(port, 'POST', path, FORM, `${N}=1&${N}=2`) });
  }
  return out;
}

/** A fixed sample of the fuzz suite's requests, on the routes the fixture has. */
function sampled(resourcePaths: readonly string[], tokens: Tokens): Hostile[] {
  const routes: Route[] = ['token', 'revoke', 'introspect', 'metadata', 'resource', 'resourceWith'];
  const specs: Spec[] = [
    ...resourcePaths.map((_, i) => crashSpec('resource', i % 2 === 0 ? 'body' : 'query')),
    ...fc.sample(
      spec.filter((s) => routes.includes(s.route)),
      { numRuns: SAMPLE, seed: 20_260_601 },
    ),
  ];
  return specs.map((s, i) => {
    const path = s.route === 'resource' || s.route === 'resourceWith' ? resourcePaths[i % resourcePaths.length] : undefined;
    const label = `sample ${i}: ${describeSpec(s, tokens, path).slice(0, 400)}`;
    return { label, head: s.method === 'HEAD', send: (port) => sendRaw(port, wireBytes(s, tokens, port, path), s.method === 'HEAD', 5000) };
  });
}

/** A token for the quick start's client, asked for the normal way. */
async function clientCredentials(port: number): Promise<Received> {
  return request(
    port,
    'POST',
    '/oauth/token',
    { ...FORM, Authorization: basic('app', APP_SECRET) },
    'grant_type=client_credentials&scope=read',
  );
}

/**
 * Sends the batch; stops early once the process is gone (everything after would only repeat
 * that). Returns what went wrong: 5xx answers and requests that got no answer.
 */
async function attack(server: Server, batch: readonly Hostile[]): Promise<string[]> {
  const problems: string[] = [];
  for (const h of batch) {
    if (!server.alive()) break;
    try {
      const r = await h.send(server.port);
      if (refusedByNode(r)) continue;
      for (const p of responseProblems(r, h.head)) problems.push(`${h.label}: ${p}`);
    } catch (err) {
      // Give the process a moment to finish dying, so the report says so.
      await new Promise((resolve) => setTimeout(resolve, 100));
      problems.push(`${h.label}: no answer (${(err as Error).message})${server.alive() ? '' : ', and the server process exited'}`);
    }
  }
  return problems;
}

/** The process is alive and serves a normal client: token, resource check, and the 401 without a token. */
async function expectHealthy(server: Server, resourcePath: string, answer: RegExp, problems: readonly string[]): Promise<void> {
  expect(
    server.alive(),
    `the server process exited (code ${server.child.exitCode}, signal ${server.child.signalCode}); answers so far:\n${problems.join('\n')}\nits stderr:\n${server.stderr().slice(-2000)}`,
  ).toBe(true);
  const t = await clientCredentials(server.port);
  expect(t.status).toBe(200);
  const token = (JSON.parse(t.body) as { access_token: string }).access_token;
  const ok = await request(server.port, 'GET', resourcePath, { Authorization: `Bearer ${token}` });
  expect(ok.status).toBe(200);
  expect(ok.body).toMatch(answer);
  const denied = await request(server.port, 'GET', resourcePath);
  expect(denied.status).toBe(401);
  expect(denied.headers.find(([k]) => k === 'www-authenticate')?.[1]).toMatch(/^Bearer realm="oauth"/);
}

async function tokensFor(server: Server): Promise<Tokens> {
  const t = await clientCredentials(server.port);
  const read = (JSON.parse(t.body) as { access_token?: string }).access_token ?? 'none';
  // The fixtures have no authorization endpoint: codes and refresh tokens are stand-ins.
  return {
    basic: basic('app', APP_SECRET),
    secret: APP_SECRET,
    read,
    readWrite: read,
    code: 'c',
    verifier: 'v',
    challenge: 'x',
    refresh: 'r',
  };
}

describe('process level: hostile requests do not take the server down', () => {
  it('the README quick start (node:http + toNodeHandler + requireOAuth) survives and answers no 5xx', async () => {
    const server = await start('quickstart-node.ts');
    const paths = ['/api/me'];
    const problems = await attack(server, [...reproductions(paths), ...sampled(paths, await tokensFor(server))]);
    await expectHealthy(server, '/api/me', /^hi$/, problems);
    expect(problems, problems.join('\n')).toEqual([]);
  }, 90_000);

  it('an Express 5 app with requireOAuth, withOAuth and express.urlencoded survives and answers no 5xx', async () => {
    const server = await start('quickstart-express.ts');
    const paths = ['/api/me', '/api/with', '/parsed/me'];
    const problems = await attack(server, [...reproductions(paths), ...sampled(paths, await tokensFor(server))]);
    await expectHealthy(server, '/api/me', /^hi$/, problems);
    await expectHealthy(server, '/api/with', /"client":"app"/, problems);
    expect(problems, problems.join('\n')).toEqual([]);
  }, 90_000);
});
