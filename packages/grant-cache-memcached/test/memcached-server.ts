/**
 * Starts throwaway `memcached` processes (Debian package `memcached`) on free 127.0.0.1 ports,
 * and speaks a little of the text protocol to them (readiness, `mg` meta-get) for tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

function binary(): string {
  for (const dir of ['/usr/bin', '/usr/local/bin', '/usr/sbin']) {
    const path = join(dir, 'memcached');
    if (existsSync(path)) return path;
  }
  throw new Error('memcached not found: install the Debian package "memcached" (apt-get install memcached)');
}

/** A port that is free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Sends one text-protocol command to 127.0.0.1:port and returns the reply up to and including
 * the first line that `done` accepts, or null when the server cannot be reached.
 */
export function textCommand(port: number, command: string, done = (line: string) => line.length > 0): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let reply = '';
    const finish = (value: string | null) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(1000, () => finish(null));
    socket.once('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      const lines = reply.split('\r\n');
      lines.pop();
      if (lines.some(done)) finish(reply);
    });
    socket.once('error', () => finish(null));
  });
}

/** Waits (bounded) until /proc says every thread of the process is in `state` (e.g. `T`, stopped). */
async function waitForState(pid: number, state: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const tasks = await readdir(`/proc/${pid}/task`).catch(() => []);
    const stats = await Promise.all(tasks.map((t) => readFile(`/proc/${pid}/task/${t}/stat`, 'utf8').catch(() => '')));
    if (stats.length > 0 && stats.every((stat) => stat.slice(stat.lastIndexOf(')') + 2).startsWith(state))) return;
    await sleep(10);
  }
  throw new Error(`process ${pid} did not reach state ${state}`);
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
}

/** A running memcached. `stop()` ends it; `start()` starts it again on the same port. */
export interface MemcachedServer {
  readonly port: number;
  /** `127.0.0.1:port`, the form memjs takes. */
  readonly address: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Freezes the process (SIGSTOP) and waits until it is stopped: connections stay open, nothing is answered. */
  pause(): Promise<void>;
  /** Lets a paused process run again (SIGCONT). */
  resume(): void;
}

/** Starts memcached on a free (or the given) loopback port, UDP off, 64 MB. */
export async function startMemcached(options: { port?: number } = {}): Promise<MemcachedServer> {
  const exe = binary();
  const port = options.port ?? (await freePort());
  let child: ChildProcess | undefined;

  const start = async () => {
    let log = '';
    // As root, memcached refuses to start without -u.
    const user = process.getuid?.() === 0 ? ['-u', 'root'] : [];
    const proc = spawn(exe, [...user, '-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '64'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    track(proc);
    const collect = (chunk: Buffer) => {
      log = (log + chunk.toString('utf8')).slice(-4000);
    };
    proc.stdout?.on('data', collect);
    proc.stderr?.on('data', collect);
    const deadline = Date.now() + 15_000;
    for (let i = 0; i < 300 && Date.now() < deadline; i++) {
      if (proc.exitCode !== null) break;
      if ((await textCommand(port, 'version'))?.startsWith('VERSION')) return;
      await sleep(50);
    }
    proc.kill('SIGKILL');
    throw new Error(`memcached on port ${port} did not start:\n${log}`);
  };

  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGKILL');
    await exited;
  };

  await start();
  return {
    port,
    address: `127.0.0.1:${port}`,
    start,
    stop,
    pause: async () => {
      if (!child?.pid) throw new Error('server is not running');
      child.kill('SIGSTOP');
      await waitForState(child.pid, 'T');
    },
    resume: () => child?.kill('SIGCONT'),
  };
}
