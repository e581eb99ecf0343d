/**
 * Launchers for the real servers the store tests run on, from the Debian packages listed in
 * scripts/apt-packages.txt: PostgreSQL, MariaDB, Redis (single node and cluster) and memcached.
 * Each starts on a free 127.0.0.1 port with a throwaway directory under os.tmpdir(), waits until
 * the server answers, and fails with a message naming the Debian package when a binary is
 * missing. Re-exported by `@portcullis/binding-testkit/servers`.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary, freePort, type SpawnedServer, type SpawnServerOptions, sleep, spawnServer, textCommand } from './process.js';

/** How long a database server may take to initialise and start (other suites may load the machine). */
const DATABASE_START_TIMEOUT_MS = 60_000;

/** A PostgreSQL or MariaDB server started by `startPostgres` or `startMariadb`. */
export interface DatabaseServer {
  /** The connection URL: trust/no-password login on 127.0.0.1. */
  readonly url: string;
  readonly port: number;
  /** The throwaway directory holding the data directory and socket; `stop()` removes it. */
  readonly dir: string;
  /** Ends the server (SIGTERM, SIGKILL after 10 s) and removes its directory. */
  stop(): Promise<void>;
}

/** Runs a setup command (initdb, mariadb-install-db) to completion; rejects with its output's end. */
function run(command: string, args: readonly string[], ids: { uid?: number; gid?: number } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(command, [...args], { ...ids, timeout: DATABASE_START_TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} failed (${err.message.split('\n')[0]}):\n${`${stdout}${stderr}`.slice(-4000)}`));
      else resolve();
    });
  });
}

/** uid and gid of a system account from /etc/passwd; throws naming the package that creates it. */
async function account(name: string, debianPackage: string): Promise<{ uid: number; gid: number }> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name) return { uid: Number(uid), gid: Number(gid) };
  }
  throw new Error(`no "${name}" account: install the Debian package "${debianPackage}" (apt-get install ${debianPackage})`);
}

/**
 * Starts a database server with `spawnServer` and wraps it so that `stop()` also removes `dir`.
 * Removes `dir` when the start fails.
 */
async function startDatabase(
  dir: string,
  url: string,
  port: number,
  options: Omit<SpawnServerOptions, 'startTimeoutMs' | 'stopSignal'>,
): Promise<DatabaseServer> {
  let server: SpawnedServer;
  try {
    server = await spawnServer({ ...options, startTimeoutMs: DATABASE_START_TIMEOUT_MS, stopSignal: 'SIGTERM' });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    port,
    dir,
    stop: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The binary directory of the newest PostgreSQL installed (`/usr/lib/postgresql/<version>/bin`). */
function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const bin = join(root, version, 'bin');
    if (existsSync(join(bin, 'postgres')) && existsSync(join(bin, 'initdb'))) return bin;
  }
  throw new Error('postgres not found in /usr/lib/postgresql/*/bin: install the Debian package "postgresql" (apt-get install postgresql)');
}

/**
 * `true` once the PostgreSQL server on 127.0.0.1:port lets `user` open a session on `database`
 * (trust authentication): its answer to a protocol 3.0 startup message reaches ReadyForQuery.
 * `false` on an error answer (still starting up), no connection, or no answer within 1 s.
 */
function postgresAcceptsSessions(port: number, user: string, database: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let pending = Buffer.alloc(0);
    const finish = (ready: boolean) => {
      // Terminate ('X'), so the server does not log an unexpected end of the session.
      if (ready) socket.end(Buffer.from([0x58, 0, 0, 0, 4]));
      else socket.destroy();
      resolve(ready);
    };
    socket.setTimeout(1000, () => finish(false));
    socket.once('connect', () => {
      const params = Buffer.from(`user\0${user}\0database\0${database}\0\0`, 'utf8');
      const head = Buffer.alloc(8);
      head.writeInt32BE(8 + params.length, 0);
      head.writeInt32BE(0x30000, 4); // protocol version 3.0
      socket.write(Buffer.concat([head, params]));
    });
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      // Each message: a type byte, then an int32 length that counts itself.
      while (pending.length >= 5) {
        const type = pending[0];
        const length = pending.readInt32BE(1);
        if (pending.length < 1 + length) return;
        if (type === 0x45 /* E: ErrorResponse */) return finish(false);
        if (type === 0x5a /* Z: ReadyForQuery */) return finish(true);
        pending = pending.subarray(1 + length);
      }
    });
    socket.once('error', () => finish(false));
  });
}

/**
 * Starts a throwaway PostgreSQL (Debian package `postgresql`): `initdb` into a new directory
 * under os.tmpdir(), then `postgres` on a free 127.0.0.1 port with trust authentication and
 * durability off (fsync, synchronous commit, full-page writes), 200 connections. As root, both
 * run as the `postgres` account (PostgreSQL refuses to run as root). Resolves once the server
 * accepts sessions; `url` is `postgres://postgres@127.0.0.1:<port>/postgres`.
 */
export async function startPostgres(): Promise<DatabaseServer> {
  const bin = postgresBinDir();
  const ids: { uid?: number; gid?: number } = process.getuid?.() === 0 ? await account('postgres', 'postgresql') : {};
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-pg-'));
  try {
    if (ids.uid !== undefined && ids.gid !== undefined) await chown(dir, ids.uid, ids.gid);
    const data = join(dir, 'data');
    await run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], ids);
    const port = await freePort();
    // biome-ignore format: one flag per line pair
    const args = [
      '-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', dir,
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200',
    ];
    return await startDatabase(dir, `postgres://postgres@127.0.0.1:${port}/postgres`, port, {
      name: `postgres on port ${port}`,
      command: join(bin, 'postgres'),
      args,
      ready: () => postgresAcceptsSessions(port, 'postgres', 'postgres'),
      ...ids,
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * `true` once the MariaDB server on 127.0.0.1:port greets a connection with its handshake
 * (protocol 10). It sends none until its init file has run.
 */
function mariadbGreets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const finish = (ready: boolean) => {
      socket.destroy();
      resolve(ready);
    };
    socket.setTimeout(1000, () => finish(false));
    // A packet: 3-byte length, sequence byte, payload; the handshake payload starts with 10.
    socket.once('data', (chunk: Buffer) => finish(chunk.length > 4 && chunk[4] === 10));
    socket.once('error', () => finish(false));
  });
}

/**
 * Starts a throwaway MariaDB (Debian package `mariadb-server`): `mariadb-install-db` into a new
 * directory under os.tmpdir(), then `mariadbd` on a free 127.0.0.1 port without grant tables
 * (any user, no password), utf8mb4, durability off, 300 connections (as root with `--user=root`).
 * Creates the database `portcullis_test` at start; `url` is
 * `mariadb://root@127.0.0.1:<port>/portcullis_test`.
 */
export async function startMariadb(): Promise<DatabaseServer> {
  const mariadbd = findBinary('mariadbd', 'mariadb-server');
  const installDb = findBinary('mariadb-install-db', 'mariadb-server');
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-mariadb-'));
  try {
    const data = join(dir, 'data');
    const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
    await run(installDb, ['--no-defaults', `--datadir=${data}`, '--skip-test-db', '--auth-root-authentication-method=normal', ...asRoot]);
    const initFile = join(dir, 'init.sql');
    await writeFile(initFile, 'CREATE DATABASE IF NOT EXISTS portcullis_test CHARACTER SET utf8mb4;\n');
    const port = await freePort();
    return await startDatabase(dir, `mariadb://root@127.0.0.1:${port}/portcullis_test`, port, {
      name: `mariadbd on port ${port}`,
      command: mariadbd,
      args: [
        '--no-defaults',
        `--datadir=${data}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--socket=${join(dir, 'mariadb.sock')}`,
        `--pid-file=${join(dir, 'mariadb.pid')}`,
        `--init-file=${initFile}`,
        '--skip-grant-tables',
        '--skip-name-resolve',
        '--character-set-server=utf8mb4',
        '--innodb-flush-log-at-trx-commit=0',
        '--innodb-doublewrite=0',
        '--innodb-buffer-pool-size=64M',
        '--performance-schema=OFF',
        '--max-connections=300',
        ...asRoot,
      ],
      ready: () => mariadbGreets(port),
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * A running redis-server. `stop()` ends it and removes its directory; `restart()` starts it
 * again on the same port with a new empty directory (it keeps no data: `--save ''`).
 */
export interface RedisServer extends SpawnedServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Its working directory under os.tmpdir() (cluster config), removed by `stop()`. */
  readonly dir: string;
}

/** Options of `startRedis`. */
export interface RedisOptions {
  /** Listen on this port instead of a free one. */
  port?: number;
  /** Pick a port whose cluster bus port (+10000) is free too. */
  withBusPort?: boolean;
  /** More arguments for its command line. */
  extraArgs?: readonly string[];
}

/** `true` when a listening socket can be bound on 127.0.0.1:port right now. */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The kernel's range of ephemeral ports (the source ports of outgoing connections). */
async function ephemeralRange(): Promise<[number, number]> {
  const text = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '32768 60999');
  const [low, high] = text.trim().split(/\s+/).map(Number);
  return [low ?? 32768, high ?? 60999];
}

/**
 * A loopback port whose cluster bus port (+10000) is free too. Both are picked outside the
 * ephemeral range, so no outgoing connection of a busy test machine takes one of them between
 * this check and the server's start.
 */
async function freePortWithBus(): Promise<number> {
  const [low, high] = await ephemeralRange();
  const usable = (p: number) => p >= 1024 && p <= 65535 && (p < low || p > high);
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 10000 + Math.floor(Math.random() * 45000);
    if (usable(port) && usable(port + 10000) && (await canBind(port)) && (await canBind(port + 10000))) return port;
  }
  throw new Error('no free loopback port pair (port, port + 10000) found');
}

/**
 * Starts a throwaway redis-server (Debian package `redis-server`) on a free (or the given)
 * 127.0.0.1 port, persistence off, and resolves once it answers PING. When it picked the port
 * itself and the server cannot start (another process took the port meanwhile), it tries again
 * on another port, three times at most.
 */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const command = findBinary('redis-server');
  const attempts = options.port === undefined ? 3 : 1;
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (options.withBusPort ? await freePortWithBus() : await freePort());
    try {
      return await startRedisOn(command, port, options.extraArgs ?? []);
    } catch (err) {
      if (attempt >= attempts) throw err;
    }
  }
}

async function startRedisOn(command: string, port: number, extraArgs: readonly string[]): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), `portcullis-redis-${port}-`));
  // biome-ignore format: one flag per line pair
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--protected-mode', 'no',
    ...extraArgs,
  ];
  const ready = async () => (await textCommand(port, 'PING'))?.startsWith('+PONG') ?? false;
  let server: SpawnedServer;
  try {
    server = await spawnServer({ name: `redis-server on port ${port}`, command, args, cwd: dir, ready });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    get pid() {
      return server.pid;
    },
    stop: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
    restart: async () => {
      await server.stop();
      await mkdir(dir, { recursive: true });
      await server.restart();
    },
    pause: () => server.pause(),
    resume: () => server.resume(),
  };
}

/** A local three-master Redis Cluster started by `startRedisCluster`. */
export interface RedisCluster {
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
  /** Stops every node and removes their directories. */
  stop(): Promise<void>;
}

/** The end of a `CLUSTER INFO` reply worth reading: its state line, or an error. */
const clusterReply = (line: string) => line.startsWith('cluster_state:') || line.startsWith('-');

/**
 * Starts three cluster-enabled redis-servers (see `startRedis`), joins them with
 * `redis-cli --cluster create` (Debian package `redis-tools`), and resolves once every node
 * reports `cluster_state:ok` (bounded: 30 s).
 */
export async function startRedisCluster(): Promise<RedisCluster> {
  const cli = findBinary('redis-cli', 'redis-tools');
  const servers: RedisServer[] = [];
  const stopAll = async () => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    for (let i = 0; i < 3; i++) {
      servers.push(
        await startRedis({
          withBusPort: true,
          extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000'],
        }),
      );
    }
    await new Promise<void>((resolve, reject) => {
      const args = ['--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', '0', '--cluster-yes'];
      execFile(cli, args, { timeout: 30_000 }, (err, stdout) =>
        err ? reject(new Error(`redis-cli --cluster create failed: ${err.message}\n${stdout.slice(-2000)}`)) : resolve(),
      );
    });
    const deadline = Date.now() + 30_000;
    let ok = false;
    for (let i = 0; i < 300 && Date.now() < deadline && !ok; i++) {
      const infos = await Promise.all(servers.map((s) => textCommand(s.port, 'CLUSTER INFO', clusterReply)));
      ok = infos.every((info) => info?.includes('cluster_state:ok'));
      if (!ok) await sleep(100);
    }
    if (!ok) throw new Error('Redis Cluster did not reach cluster_state:ok');
  } catch (err) {
    await stopAll();
    throw err;
  }
  return { nodes: servers.map((s) => ({ host: '127.0.0.1', port: s.port })), stop: stopAll };
}

/** A running memcached. `stop()` ends it; `restart()` starts it again on the same port. */
export interface MemcachedServer extends SpawnedServer {
  readonly port: number;
  /** `127.0.0.1:<port>`, the form memjs takes. */
  readonly address: string;
}

/**
 * Starts a throwaway memcached (Debian package `memcached`) on a free (or the given) 127.0.0.1
 * port, UDP off, 64 MB, and resolves once it answers `version`. It keeps no files.
 */
export async function startMemcached(options: { port?: number } = {}): Promise<MemcachedServer> {
  const command = findBinary('memcached');
  const port = options.port ?? (await freePort());
  // As root, memcached refuses to start without -u.
  const user = process.getuid?.() === 0 ? ['-u', 'root'] : [];
  const server = await spawnServer({
    name: `memcached on port ${port}`,
    command,
    args: [...user, '-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '64'],
    ready: async () => (await textCommand(port, 'version'))?.startsWith('VERSION') ?? false,
  });
  return Object.assign(server, { port, address: `127.0.0.1:${port}` });
}
