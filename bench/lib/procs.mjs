// Child processes of the benchmark: servers under test (pinned to the server core) and the load
// generator (pinned to the load core), tracked and killed when the benchmark ends, however it
// ends. The database servers come from the testkit's launchers (see stores.mjs); this module pins
// them to the load core once they run.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
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

/** Removes `dir` too when the benchmark ends (a directory a testkit launcher made). */
export function trackDir(dir) {
  tempDirs.add(dir);
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

// ------------------------------------------------------------------------------ pinning servers

/** The pid of the process listening on 127.0.0.1:port (from /proc/net/tcp and /proc/<pid>/fd), or null. */
export function pidListening(port) {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is f[1] (ADDR:PORT), st is f[3] (0A = LISTEN), inode is f[9]
      if (f.length > 9 && f[1].endsWith(`:${hex}`) && f[3] === '0A') inodes.add(`socket:[${f[9]}]`);
    }
  }
  if (inodes.size === 0) return null;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let fds = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (inodes.has(readlinkSync(`/proc/${pid}/fd/${fd}`))) return Number(pid);
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return null;
}

/** `pid` and every process descended from it. */
function processTree(pid) {
  const parent = new Map();
  for (const d of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) for (const [child, p] of parent) if (p === out[i]) out.push(child);
  return out;
}

/**
 * Pins a running server (the process listening on `port`, all its threads and its children; the
 * children it forks later inherit the mask) to `core`. The database servers come from the
 * testkit's launchers, which start them unpinned. Returns the pid, or null when pinning is off.
 */
export function pinListener(port, core, pinning) {
  if (!pinning) return null;
  const pid = pidListening(port);
  if (!pid) throw new Error(`no process listens on 127.0.0.1:${port}`);
  for (const p of processTree(pid)) {
    try {
      execFileSync('taskset', ['-a', '-p', '-c', String(core), String(p)], { stdio: 'ignore' });
    } catch {
      // a short-lived child that ended meanwhile
    }
  }
  return pid;
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
