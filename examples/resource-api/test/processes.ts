/** Child processes for the test: the example provider and the example API, each started with tsx. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A started child and the URL it printed. */
export interface Proc {
  readonly url: string;
  readonly child: ChildProcess;
  output(): string;
}

/** The example provider's package (`examples/provider`). */
export const PROVIDER_DIR = fileURLToPath(new URL('../../provider/', import.meta.url));

/**
 * Runs `entry` (relative to `cwd`, default this package) as `node --conditions=source --import
 * tsx`, records the child in `children` (killed by the caller's afterAll) and waits, 60 s at
 * most, for `<name> on <url>`.
 */
export async function startProcess(
  entry: string,
  name: string,
  env: Record<string, string>,
  children: ChildProcess[],
  cwd = PACKAGE_DIR,
): Promise<Proc> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', entry], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString('utf8')).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const pattern = new RegExp(`${name} on (http://127\\.0\\.0\\.1:\\d+)`);
  const end = Date.now() + 60_000;
  for (;;) {
    const m = pattern.exec(out);
    if (m) return { url: m[1]!, child, output: () => out };
    if (child.exitCode !== null || Date.now() > end) throw new Error(`${name} did not start:\n${out}`);
    await sleep(50);
  }
}

/** A loopback port free at the time of asking (the API's port must be known before it starts: it is its audience). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Stops the children: SIGTERM, then SIGKILL after 5 s. */
export async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }),
  );
}
