/**
 * Starts a throwaway PostgreSQL 15 and MariaDB 10.11 (Debian packages `postgresql` and
 * `mariadb-server`) on free 127.0.0.1 ports with data directories under os.tmpdir(), hands their
 * URLs to the tests through `provide`, and stops them in teardown. `DATABASE_URL_POSTGRES` /
 * `DATABASE_URL_MARIADB` name existing servers instead.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, type SpawnServerOptions, spawnServer } from '@portcullis/binding-testkit/servers';
import { QueryTypes, Sequelize } from 'sequelize';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
    mariadbUrl: string;
  }
}

const PG_BIN = '/usr/lib/postgresql/15/bin';
const MARIADBD = '/usr/sbin/mariadbd';
const MARIADB_INSTALL_DB = '/usr/bin/mariadb-install-db';
const START_TIMEOUT_MS = 60_000;

function requireBinary(path: string, debianPackage: string): void {
  if (!existsSync(path)) {
    throw new Error(`${path} not found: install the Debian package \`${debianPackage}\` (see scripts/apt-packages.txt)`);
  }
}

/** uid/gid of a system account, for dropping root (PostgreSQL refuses to run as root). */
function account(name: string): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

interface Server {
  url: string;
  stop: () => Promise<void>;
}

function collectOutput(child: ChildProcess): () => string {
  let out = '';
  const add = (b: Buffer) => {
    out = (out + b.toString()).slice(-4000);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => out;
}

function run(cmd: string, args: string[], opts: { uid?: number; gid?: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    const output = collectOutput(child);
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}:\n${output()}`))));
  });
}

/** `true` once the database at `url` answers a query. */
async function accepts(url: string): Promise<boolean> {
  const db = new Sequelize(url, { logging: false, pool: { max: 1 } });
  try {
    await db.query('SELECT 1', { type: QueryTypes.SELECT });
    return true;
  } catch {
    return false;
  } finally {
    await db.close();
  }
}

/** Starts the server and waits until `url` answers; `stop()` ends it (SIGTERM) and removes `dir`. */
async function startServer(dir: string, url: string, options: Omit<SpawnServerOptions, 'ready'>): Promise<Server> {
  try {
    const server = await spawnServer({ ...options, ready: () => accepts(url), startTimeoutMs: START_TIMEOUT_MS, stopSignal: 'SIGTERM' });
    const stop = async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    };
    return { url, stop };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function startPostgres(): Promise<Server> {
  requireBinary(join(PG_BIN, 'postgres'), 'postgresql');
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-pg-'));
  const ids: { uid?: number; gid?: number } = process.getuid?.() === 0 ? account('postgres') : {};
  if (ids.uid !== undefined && ids.gid !== undefined) await chown(dir, ids.uid, ids.gid);
  const data = join(dir, 'data');
  await run(join(PG_BIN, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], ids);
  const port = await freePort();
  return startServer(dir, `postgres://postgres@127.0.0.1:${port}/postgres`, {
    name: 'postgres',
    command: join(PG_BIN, 'postgres'),
    args: ['-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', dir, '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'],
    ...ids,
  });
}

async function startMariadb(): Promise<Server> {
  requireBinary(MARIADBD, 'mariadb-server');
  requireBinary(MARIADB_INSTALL_DB, 'mariadb-server');
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-mariadb-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
  await run(MARIADB_INSTALL_DB, ['--no-defaults', `--datadir=${data}`, '--skip-test-db', '--auth-root-authentication-method=normal', ...asRoot], {});
  const port = await freePort();
  const base = `mariadb://root@127.0.0.1:${port}`;
  const server = await startServer(dir, `${base}/mysql`, {
    name: 'mariadbd',
    command: MARIADBD,
    args: [
      '--no-defaults',
      `--datadir=${data}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${join(dir, 'mariadb.sock')}`,
      `--pid-file=${join(dir, 'mariadb.pid')}`,
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
  });
  try {
    const db = new Sequelize(`${base}/mysql`, { logging: false });
    await db.query('CREATE DATABASE portcullis_test CHARACTER SET utf8mb4', { type: QueryTypes.RAW, raw: true });
    await db.close();
  } catch (err) {
    await server.stop();
    throw err;
  }
  return { url: `${base}/portcullis_test`, stop: server.stop };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const envPg = process.env.DATABASE_URL_POSTGRES;
  const envMaria = process.env.DATABASE_URL_MARIADB;
  const results = await Promise.allSettled([
    envPg ? Promise.resolve<Server>({ url: envPg, stop: async () => {} }) : startPostgres(),
    envMaria ? Promise.resolve<Server>({ url: envMaria, stop: async () => {} }) : startMariadb(),
  ]);
  const servers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const teardown = async () => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await teardown();
    throw failed.reason;
  }
  const [pg, maria] = servers as [Server, Server];
  project.provide('postgresUrl', pg.url);
  project.provide('mariadbUrl', maria.url);
  return teardown;
}
