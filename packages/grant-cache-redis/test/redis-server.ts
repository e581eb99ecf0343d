/**
 * Starts throwaway `redis-server` processes (Debian packages `redis-server` and `redis-tools`) on
 * free 127.0.0.1 ports with data directories under os.tmpdir(): a single node, and a three-master
 * Redis Cluster. Used by the global setup and by tests that stop and restart a server.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

function binary(name: 'redis-server' | 'redis-cli'): string {
  const debianPackage = name === 'redis-server' ? 'redis-server' : 'redis-tools';
  for (const dir of ['/usr/bin', '/usr/local/bin', '/usr/sbin']) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  throw new Error(`${name} not found: install the Debian package "${debianPackage}" (apt-get install ${debianPackage})`);
}

/** `true` when something accepts connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A port on 127.0.0.1 that is free now, and (for cluster nodes) whose bus port (+10000) is too. */
export async function freePort(withBusPort = false): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = withBusPort ? 20000 + Math.floor(Math.random() * 25000) : await ephemeralPort();
    if (await listening(port)) continue;
    if (withBusPort && (await listening(port + 10000))) continue;
    return port;
  }
  throw new Error('no free loopback port found');
}

function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Sends one inline command over a raw socket and returns the reply text (or null on failure). */
function rawCommand(port: number, command: string): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (value: string | null) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(1000, () => done(null));
    socket.once('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.endsWith('\r\n')) done(reply);
    });
    socket.once('error', () => done(null));
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

/** A running redis-server. `stop()` ends it; `start()` starts it again on the same port and dir. */
export interface RedisServer {
  readonly port: number;
  readonly url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Freezes the process (SIGSTOP) and waits until it is stopped: connections stay open, nothing is answered. */
  pause(): Promise<void>;
  /** Lets a paused process run again (SIGCONT). */
  resume(): void;
  /** Stops the server and removes its data directory. */
  dispose(): Promise<void>;
}

/** Starts a redis-server on a free (or the given) loopback port. `extraArgs` go on its command line. */
export async function startRedisServer(
  options: { port?: number; extraArgs?: string[]; withBusPort?: boolean } = {},
): Promise<RedisServer> {
  const exe = binary('redis-server');
  const port = options.port ?? (await freePort(options.withBusPort));
  const dir = await mkdtemp(join(tmpdir(), `portcullis-redis-${port}-`));
  let child: ChildProcess | undefined;
  let log = '';

  const start = async () => {
    log = '';
    // biome-ignore format: one flag per line pair
    const args = [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
      '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--protected-mode', 'no',
      ...(options.extraArgs ?? []),
    ];
    const proc = spawn(exe, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    track(proc);
    proc.stdout?.on('data', (chunk: Buffer) => {
      log = (log + chunk.toString('utf8')).slice(-4000);
    });
    proc.stderr?.on('data', (chunk: Buffer) => {
      log = (log + chunk.toString('utf8')).slice(-4000);
    });
    const deadline = Date.now() + 15_000;
    for (let i = 0; i < 300 && Date.now() < deadline; i++) {
      if (proc.exitCode !== null) break;
      if ((await rawCommand(port, 'PING'))?.startsWith('+PONG')) return;
      await sleep(50);
    }
    proc.kill('SIGKILL');
    throw new Error(`redis-server on port ${port} did not start:\n${log}`);
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
    url: `redis://127.0.0.1:${port}`,
    start,
    stop,
    pause: async () => {
      if (!child?.pid) throw new Error('server is not running');
      child.kill('SIGSTOP');
      await waitForState(child.pid, 'T');
    },
    resume: () => child?.kill('SIGCONT'),
    dispose: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A local three-master Redis Cluster. */
export interface RedisClusterServers {
  readonly nodes: readonly { host: string; port: number }[];
  dispose(): Promise<void>;
}

/** Starts three cluster-enabled servers, joins them with `redis-cli --cluster create`, waits for `cluster_state:ok`. */
export async function startRedisCluster(): Promise<RedisClusterServers> {
  const cli = binary('redis-cli');
  const servers: RedisServer[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      servers.push(
        await startRedisServer({
          withBusPort: true,
          extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000'],
        }),
      );
    }
    const addresses = servers.map((s) => `127.0.0.1:${s.port}`);
    await run(cli, ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], {
      timeout: 30_000,
    });
    const deadline = Date.now() + 30_000;
    let ok = false;
    for (let i = 0; i < 300 && Date.now() < deadline && !ok; i++) {
      const infos = await Promise.all(servers.map((s) => rawCommand(s.port, 'CLUSTER INFO')));
      ok = infos.every((info) => info?.includes('cluster_state:ok'));
      if (!ok) await sleep(100);
    }
    if (!ok) throw new Error('Redis Cluster did not reach cluster_state:ok');
  } catch (err) {
    await Promise.all(servers.map((s) => s.dispose()));
    throw err;
  }
  return {
    nodes: servers.map((s) => ({ host: '127.0.0.1', port: s.port })),
    dispose: async () => {
      await Promise.all(servers.map((s) => s.dispose()));
    },
  };
}
