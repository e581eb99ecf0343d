/**
 * App processes for the multi-process tests (shared-state, shared-stores, chaos): each a child
 * started the way `pnpm start` runs the app, and a browser that sends every request to the next
 * process in turn, as a round-robin balancer would.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { authorizeThroughPages, CB, CookieClient, pkce } from './helpers.js';

export const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Proc {
  readonly url: string;
  readonly child: ChildProcess;
  output(): string;
}

/**
 * Starts the app as a child process (as `pnpm start` does), records it in `children` (the
 * caller kills them in afterAll) and waits for its address (60 s at most). `nodeArgs` go before
 * the entry point (e.g. another `--import`).
 */
export async function startProcess(env: Record<string, string>, children: ChildProcess[], nodeArgs: readonly string[] = []): Promise<Proc> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', ...nodeArgs, 'src/main.ts'], {
    cwd: PACKAGE_DIR,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DEMO: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => {
    out = (out + d).slice(-20_000);
  });
  child.stderr!.on('data', (d) => {
    out = (out + d).slice(-20_000);
  });
  const end = Date.now() + 60_000;
  for (;;) {
    const m = /provider on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
    if (m) return { url: m[1]!, child, output: () => out };
    if (child.exitCode !== null || Date.now() > end) throw new Error(`the app did not start:\n${out}`);
    await sleep(50);
  }
}

/** A browser whose every request goes to the next process in turn, as a round-robin balancer would send it. */
export class RoundRobinBrowser extends CookieClient {
  private next = 0;
  readonly served: string[] = [];
  constructor(private readonly bases: readonly string[]) {
    super(bases[0]!);
  }
  override fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const base = this.bases[this.next++ % this.bases.length]!;
    this.served.push(base);
    return super.fetch(path.startsWith('http') ? path : `${base}${path}`, init);
  }
}

/** A form POST with client credentials; the JSON answer. */
export async function postForm(
  url: string,
  authorization: string,
  params: Record<string, string>,
  signal?: AbortSignal,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization },
    body: new URLSearchParams(params).toString(),
    ...(signal ? { signal } : {}),
  });
  const text = await r.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { raw: text.slice(0, 200) };
  }
  return { status: r.status, body };
}

/** The authorization request of a code flow with PKCE for `clientId`: its URL, verifier and state. */
export function authorizationRequest(clientId: string, o: { scope?: string; redirectUri?: string } = {}) {
  const { verifier, challenge } = pkce();
  const state = randomBytes(8).toString('hex');
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: o.redirectUri ?? CB,
    scope: o.scope ?? 'read write',
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  return { url: `/oauth/authorize?${query}`, verifier, state };
}

/**
 * The authorization step of a code flow through the pages (login, consent) with PKCE: the code,
 * its verifier, the state and `iss` the callback carried.
 */
export async function authorizeCode(b: CookieClient, clientId: string, scope = 'read write') {
  const { url, verifier, state } = authorizationRequest(clientId, { scope });
  const callback = await authorizeThroughPages(b, url);
  return {
    code: callback.searchParams.get('code')!,
    verifier,
    state,
    returnedState: callback.searchParams.get('state'),
    iss: callback.searchParams.get('iss'),
  };
}
