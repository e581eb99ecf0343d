/**
 * Starts throwaway `redis-server` processes (Debian packages `redis-server` and `redis-tools`) on
 * free 127.0.0.1 ports with data directories under os.tmpdir(): a single node, and a three-master
 * Redis Cluster. Used by the global setup and by tests that stop and restart a server.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findBinary, freePort, listening, type SpawnedServer, sleep, spawnServer, textCommand } from '@portcullis/binding-testkit/servers';

const run = promisify(execFile);

/** A free loopback port whose cluster bus port (+10000) is free too. */
async function freePortWithBus(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 25000);
    if (!(await listening(port)) && !(await listening(port + 10000))) return port;
  }
  throw new Error('no free loopback port found');
}

/** A running redis-server. `stop()` ends it; `restart()` starts it again on the same port and dir. */
export interface RedisServer extends SpawnedServer {
  readonly port: number;
  readonly url: string;
  /** Stops the server and removes its data directory. */
  dispose(): Promise<void>;
}

/** Starts a redis-server on a free (or the given) loopback port. `extraArgs` go on its command line. */
export async function startRedisServer(
  options: { port?: number; extraArgs?: string[]; withBusPort?: boolean } = {},
): Promise<RedisServer> {
  const command = findBinary('redis-server');
  const port = options.port ?? (options.withBusPort ? await freePortWithBus() : await freePort());
  const dir = await mkdtemp(join(tmpdir(), `portcullis-redis-${port}-`));
  // biome-ignore format: one flag per line pair
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--protected-mode', 'no',
    ...(options.extraArgs ?? []),
  ];
  const ready = async () => (await textCommand(port, 'PING'))?.startsWith('+PONG') ?? false;
  let server: SpawnedServer;
  try {
    server = await spawnServer({ name: `redis-server on port ${port}`, command, args, cwd: dir, ready });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return Object.assign(server, {
    port,
    url: `redis://127.0.0.1:${port}`,
    dispose: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  });
}

/** A local three-master Redis Cluster. */
export interface RedisClusterServers {
  readonly nodes: readonly { host: string; port: number }[];
  dispose(): Promise<void>;
}

/** The end of a `CLUSTER INFO` reply worth reading: its state line, or an error. */
const clusterReply = (line: string) => line.startsWith('cluster_state:') || line.startsWith('-');

/** Starts three cluster-enabled servers, joins them with `redis-cli --cluster create`, waits for `cluster_state:ok`. */
export async function startRedisCluster(): Promise<RedisClusterServers> {
  const cli = findBinary('redis-cli', 'redis-tools');
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
      const infos = await Promise.all(servers.map((s) => textCommand(s.port, 'CLUSTER INFO', clusterReply)));
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
