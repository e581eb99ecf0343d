/**
 * The server launchers of `@portcullis/binding-testkit/servers`: each server answers on its
 * loopback URL (checked with the server's own command-line client where it has one), and
 * `stop()` ends it and removes its directory. Also: the main entry never loads node:child_process.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  findBinary,
  listening,
  startMariadb,
  startMemcached,
  startPostgres,
  startRedis,
  startRedisCluster,
  textCommand,
} from '@portcullis/binding-testkit/servers';
import { describe, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** Every module specifier `file` imports or re-exports. */
function specifiers(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import)\s+'([^']+)'/g)].map((m) => m[1]!);
}

/** The non-relative modules loaded by `entry` and everything it imports from `src/`. */
function externalImports(entry: string): Set<string> {
  const seen = new Set<string>();
  const external = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const s of specifiers(file)) {
      if (s.startsWith('.')) visit(join(dirname(file), s.replace(/\.js$/, '.ts')));
      else external.add(s);
    }
  };
  visit(join(SRC, entry));
  return external;
}

/** Runs a command-line client and returns its output; rejects with its stderr. */
function client(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: 15_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

describe('entry points', () => {
  it('the main entry does not load node:child_process; the servers entry does', () => {
    assert.ok(!externalImports('index.ts').has('node:child_process'), 'index.ts reaches node:child_process');
    assert.ok(externalImports('servers.ts').has('node:child_process'));
  });

  it('a missing binary is reported with the Debian package to install', () => {
    assert.throws(
      () => findBinary('portcullis-no-such-server', 'portcullis-server-pkg'),
      /install the Debian package "portcullis-server-pkg"/,
    );
  });
});

describe('launchers', { timeout: 90_000 }, () => {
  it('startPostgres: psql runs a query on its URL; stop() ends it and removes its directory', async () => {
    const pg = await startPostgres();
    try {
      assert.match(pg.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
      assert.ok(existsSync(pg.dir));
      const out = await client(findBinary('psql', 'postgresql-client'), [pg.url, '-tAc', 'SELECT 40 + 2']);
      assert.equal(out.trim(), '42');
    } finally {
      await pg.stop();
    }
    assert.equal(await listening(pg.port), false);
    assert.equal(existsSync(pg.dir), false);
  });

  it('startMariadb: the mariadb client reaches portcullis_test on its URL; stop() removes its directory', async () => {
    const db = await startMariadb();
    try {
      const url = new URL(db.url);
      assert.equal(url.protocol, 'mariadb:');
      assert.equal(url.hostname, '127.0.0.1');
      assert.equal(url.pathname, '/portcullis_test');
      const out = await client(findBinary('mariadb', 'mariadb-client'), [
        '--protocol=tcp',
        '-h',
        '127.0.0.1',
        '-P',
        String(db.port),
        '-u',
        'root',
        '-N',
        '-e',
        'SELECT DATABASE(), @@character_set_database',
        'portcullis_test',
      ]);
      assert.deepEqual(out.trim().split('\t'), ['portcullis_test', 'utf8mb4']);
    } finally {
      await db.stop();
    }
    assert.equal(await listening(db.port), false);
    assert.equal(existsSync(db.dir), false);
  });

  it('startRedis: answers PING; restart() brings it back empty on the same port; stop() removes its directory', async () => {
    const redis = await startRedis();
    try {
      assert.equal(redis.url, `redis://127.0.0.1:${redis.port}`);
      assert.equal(await textCommand(redis.port, 'SET k v'), '+OK\r\n');
      await redis.stop();
      assert.equal(existsSync(redis.dir), false);
      assert.equal(await listening(redis.port), false);
      await redis.restart();
      assert.equal(await textCommand(redis.port, 'EXISTS k'), ':0\r\n');
    } finally {
      await redis.stop();
    }
    assert.equal(existsSync(redis.dir), false);
  });

  it('startRedisCluster: three masters sharing the 16384 slots; stop() ends them', async () => {
    const cluster = await startRedisCluster();
    try {
      assert.equal(cluster.nodes.length, 3);
      const info = await textCommand(cluster.nodes[0]!.port, 'CLUSTER INFO', (l) => l.startsWith('cluster_slots_assigned:'));
      assert.match(info ?? '', /cluster_slots_assigned:16384/);
    } finally {
      await cluster.stop();
    }
    for (const node of cluster.nodes) assert.equal(await listening(node.port), false);
  });

  it('startMemcached: answers version on its address; stop() ends it', async () => {
    const mc = await startMemcached();
    try {
      assert.equal(mc.address, `127.0.0.1:${mc.port}`);
      assert.match((await textCommand(mc.port, 'version')) ?? '', /^VERSION /);
    } finally {
      await mc.stop();
    }
    assert.equal(await listening(mc.port), false);
  });
});
