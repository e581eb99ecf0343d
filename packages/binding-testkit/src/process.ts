/**
 * Process handling for test servers: a free loopback port, a throwaway server process (start,
 * stop, freeze, restart), bounded retries. Re-exported by `@portcullis/binding-testkit/servers`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { sleep } from './shared.js';

export { sleep };

/**
 * The path of a server binary installed by a Debian package, looked up in `/usr/bin`,
 * `/usr/local/bin` and `/usr/sbin`. Throws, naming the package to install, when it is missing.
 */
export function findBinary(name: string, debianPackage: string = name): string {
  for (const dir of ['/usr/bin', '/usr/local/bin', '/usr/sbin']) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  throw new Error(`${name} not found: install the Debian package "${debianPackage}" (apt-get install ${debianPackage})`);
}

/** A port that is free on 127.0.0.1 right now (the kernel's pick). */
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

/** `true` when something accepts connections on 127.0.0.1:port. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Sends one line of a text protocol (Redis inline commands, memcached) to 127.0.0.1:port and
 * returns the reply up to and including the first complete line that `done` accepts (by default
 * the first non-empty one). `null` when the server cannot be reached or says nothing within 1 s.
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
    socket.on('data', (chunk: Buffer) => {
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
    // Never leave servers behind if the test process ends without teardown.
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
}

/** Options of `spawnServer`. */
export interface SpawnServerOptions {
  /** Names the server in errors, e.g. `redis-server on port 6390`. Default: `command`. */
  name?: string;
  /** The executable (see `findBinary`). */
  command: string;
  args: readonly string[];
  /** Polled every 50 ms after each start: resolves `true` once the server answers. */
  ready: () => Promise<boolean>;
  cwd?: string;
  /** Run the server as this user and group (e.g. PostgreSQL refuses to run as root). */
  uid?: number;
  gid?: number;
  /** How long a start may take before it fails with the server's output. Default 15 s. */
  startTimeoutMs?: number;
  /** The signal `stop()` sends. Default `SIGKILL` (a throwaway server has nothing to save). */
  stopSignal?: NodeJS.Signals;
}

/** A server process `spawnServer` started. */
export interface SpawnedServer {
  /** The current process id, or `undefined` while stopped. */
  readonly pid: number | undefined;
  /** Ends the process and waits for it to exit (SIGKILL after 10 s); nothing when it is not running. */
  stop(): Promise<void>;
  /** Freezes the process (SIGSTOP) and waits until it is stopped: connections stay open, nothing is answered. */
  pause(): Promise<void>;
  /** Lets a paused process run again (SIGCONT). */
  resume(): void;
  /** Stops the process if it runs, then starts it again with the same command and waits until it is ready. */
  restart(): Promise<void>;
}

/**
 * Starts a server process and waits (bounded) until `ready()` says it answers. When it does not,
 * kills it and throws with the end of its output. Processes still running when the test process
 * exits are killed.
 */
export async function spawnServer(options: SpawnServerOptions): Promise<SpawnedServer> {
  const name = options.name ?? options.command;
  const startTimeout = options.startTimeoutMs ?? 15_000;
  let child: ChildProcess | undefined;

  const start = async () => {
    let log = '';
    const proc = spawn(options.command, [...options.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      ...(options.uid === undefined ? {} : { uid: options.uid }),
      ...(options.gid === undefined ? {} : { gid: options.gid }),
    });
    child = proc;
    track(proc);
    const collect = (chunk: Buffer) => {
      log = (log + chunk.toString('utf8')).slice(-4000);
    };
    proc.stdout?.on('data', collect);
    proc.stderr?.on('data', collect);
    let spawnError: Error | undefined;
    proc.once('error', (err) => {
      spawnError = err;
    });
    const deadline = Date.now() + startTimeout;
    for (let i = 0; i < startTimeout / 50 && Date.now() < deadline; i++) {
      if (proc.exitCode !== null || proc.signalCode !== null || spawnError) break;
      if (await options.ready()) return;
      await sleep(50);
    }
    proc.kill('SIGKILL');
    const why = spawnError ? ` (${spawnError.message})` : proc.exitCode !== null ? ` (exited with ${proc.exitCode})` : '';
    throw new Error(`${name} did not start${why}:\n${log}`);
  };

  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(options.stopSignal ?? 'SIGKILL');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  await start();
  return {
    get pid() {
      return child?.pid;
    },
    stop,
    pause: async () => {
      if (!child?.pid) throw new Error(`${name} is not running`);
      child.kill('SIGSTOP');
      await waitForState(child.pid, 'T');
    },
    resume: () => {
      child?.kill('SIGCONT');
    },
    restart: async () => {
      await stop();
      await start();
    },
  };
}

/** Retries `fn` until it resolves (bounded: 100 tries, 15 s, 150 ms apart), returning its value. */
export async function eventually<T>(fn: () => Promise<T>, what: string): Promise<T> {
  const deadline = Date.now() + 15_000;
  let last: unknown;
  for (let i = 0; i < 100 && Date.now() < deadline; i++) {
    try {
      return await fn();
    } catch (err) {
      last = err;
      await sleep(150);
    }
  }
  throw new Error(`${what} never succeeded`, { cause: last });
}

/**
 * Rejects if `promise` has not settled within `ms`: stores promise to fail fast when the server
 * is gone, and a hang is the failure this catches (make the bound generous).
 */
export async function settlesWithin<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}
