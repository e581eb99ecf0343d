// Child processes of the benchmark: servers under test (pinned to the server core), the load
// generator (pinned to the load core), PostgreSQL and Redis. Every child is tracked and killed
// when the benchmark ends, however it ends.
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const children = new Set();
const tempDirs = new Set();

/** Kills every child still running (its whole process group) and removes temp dirs. Synchronous. */
export function killAll(signal = 'SIGKILL') {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, signal);
      } catch {
        try {
          child.kill(signal);
        } catch {
          // already gone
        }
      }
    }
  }
  children.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Spawns a tracked child in its own process group. Keeps the last 8 KB of its output. */
export function start(cmd, args, options = {}) {
  const child = spawn(cmd, args, { ...options, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.output = '';
  const keep = (chunk) => {
    child.output = (child.output + chunk.toString()).slice(-8192);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Stops a child: SIGTERM, then SIGKILL after `graceMs`. */
export async function stop(child, graceMs = 3000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    child.kill('SIGTERM');
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** `taskset -c <core>` prefix when pinning is possible, else nothing. */
export function pin(core, pinning) {
  return pinning ? ['taskset', '-c', String(core)] : [];
}

/** Runs a child to completion (bounded by `timeoutMs`), resolving with its output. */
export function runToEnd(cmd, args, { timeoutMs, env, cwd, uid, gid } = {}) {
  return new Promise((resolve, reject) => {
    const child = start(cmd, args, { env, cwd, uid, gid });
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs ?? 60_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(child.output);
      else reject(new Error(`${cmd} ${args.join(' ')} ended with ${signal ?? code}:\n${child.output}`));
    });
  });
}

/** Starts a server that prints `READY <port>` and waits for it (at most `timeoutMs`). */
export async function startServer(cmd, args, { env, cwd, timeoutMs = 30_000 }) {
  const child = start(cmd, args, { env, cwd });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const m = /READY (\d+)/.exec(child.output);
    if (m) return { child, port: Number(m[1]) };
    if (child.exitCode !== null || child.signalCode !== null) break;
    await sleep(50);
  }
  await stop(child);
  throw new Error(`server ${args.join(' ')} did not start:\n${child.output}`);
}

// ------------------------------------------------------------------------------ PostgreSQL, Redis

const PG_BIN = '/usr/lib/postgresql/15/bin';

function requireBinary(path, debianPackage) {
  if (!existsSync(path)) throw new Error(`${path} not found: install the Debian package \`${debianPackage}\` (scripts/apt-packages.txt)`);
}

function account(name) {
  return {
    uid: Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim()),
  };
}

/**
 * A throwaway PostgreSQL 15 on a free loopback port, data under os.tmpdir(), run as the
 * `postgres` user when we are root, pinned to `core`. Statements are logged (with the database
 * name) only while `logStatements(true)` is on, for counting round trips on the server side.
 */
export async function startPostgres({ core, pinning, pgModule }) {
  requireBinary(join(PG_BIN, 'postgres'), 'postgresql');
  const dir = tempDir('portcullis-bench-pg-');
  const ids = process.getuid?.() === 0 ? account('postgres') : {};
  if (ids.uid !== undefined) chownSync(dir, ids.uid, ids.gid);
  const data = join(dir, 'data');
  await runToEnd(join(PG_BIN, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], {
    ...ids,
    timeoutMs: 120_000,
  });
  const port = await freePort();
  // biome-ignore format: flag pairs
  const args = [
    join(PG_BIN, 'postgres'), '-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', dir,
    '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
    '-c', 'max_connections=100', '-c', 'shared_buffers=512MB',
    '-c', 'log_line_prefix=[%d] ', '-c', 'log_destination=stderr',
  ];
  const [cmd, ...rest] = [...pin(core, pinning), ...args];
  const child = start(cmd, rest, ids);
  const url = `postgres://postgres@127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const c = new pgModule.Client({ connectionString: `${url}/postgres` });
    try {
      await c.connect();
      await c.query('SELECT 1');
      await c.end();
      break;
    } catch {
      await c.end().catch(() => {});
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop(child);
        throw new Error(`postgres did not start:\n${child.output}`);
      }
      await sleep(100);
    }
  }
  return {
    url,
    child,
    async stop() {
      await stop(child, 10_000);
      removeTempDir(dir);
    },
  };
}

/** A throwaway redis-server on a free loopback port, no persistence, pinned to `core`. */
export async function startRedis({ core, pinning }) {
  requireBinary('/usr/bin/redis-server', 'redis-server');
  const dir = tempDir('portcullis-bench-redis-');
  const port = await freePort();
  // biome-ignore format: flag pairs
  const args = ['/usr/bin/redis-server', '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--protected-mode', 'no'];
  const [cmd, ...rest] = [...pin(core, pinning), ...args];
  const child = start(cmd, rest, { cwd: dir });
  const deadline = Date.now() + 15_000;
  while (!(await redisCommand(port, 'PING'))?.startsWith('+PONG')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop(child);
      throw new Error(`redis-server did not start:\n${child.output}`);
    }
    await sleep(50);
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    child,
    async stop() {
      await stop(child);
      removeTempDir(dir);
    },
  };
}

/** One inline command over a raw socket; the first reply line, or null. */
export function redisCommand(port, command) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (v) => {
      socket.destroy();
      resolve(v);
    };
    socket.setTimeout(1000, () => done(null));
    socket.once('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (b) => {
      reply += b.toString();
      if (reply.endsWith('\r\n')) done(reply);
    });
    socket.once('error', () => done(null));
  });
}

/**
 * Runs Redis MONITOR while `fn` runs and returns the commands clients sent (commands a Lua
 * script runs inside the server are left out: they are not round trips).
 */
export async function monitorRedis(port, fn) {
  const socket = connect({ host: '127.0.0.1', port });
  let buf = '';
  const commands = [];
  socket.on('data', (b) => {
    buf += b.toString();
    let nl = buf.indexOf('\r\n');
    while (nl !== -1) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 2);
      const m = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]+)"/.exec(line);
      if (m && m[1] !== 'lua') commands.push(m[2].toUpperCase());
      nl = buf.indexOf('\r\n');
    }
  });
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write('MONITOR\r\n');
  await sleep(100);
  try {
    await fn();
    await sleep(200);
  } finally {
    socket.destroy();
  }
  return commands;
}
