/**
 * Starts throwaway `memcached` processes (Debian package `memcached`) on free 127.0.0.1 ports.
 * The process handling (spawn, readiness, stop, freeze) is the testkit's `spawnServer`.
 */
import { findBinary, freePort, type SpawnedServer, spawnServer, textCommand } from '@portcullis/binding-testkit/servers';

/** A running memcached. `stop()` ends it; `restart()` starts it again on the same port. */
export interface MemcachedServer extends SpawnedServer {
  readonly port: number;
  /** `127.0.0.1:port`, the form memjs takes. */
  readonly address: string;
}

/** Starts memcached on a free (or the given) loopback port, UDP off, 64 MB. */
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
