/**
 * The SQL pool settings (`DATABASE_POOL_MAX`, `DATABASE_POOL_ACQUIRE_MS`,
 * `DATABASE_CONNECT_TIMEOUT_MS`) reach the connections the app opens on MariaDB. A TCP relay on
 * 127.0.0.1 in front of the server holds back each new connection for 1.5 s before the server's
 * greeting reaches the app, as a CPU-starved machine does to a handshake: with the mariadb
 * driver's own 1 s connect timeout (what the app used before these settings) every connection
 * attempt failed, and a failed attempt fails a request waiting for a pooled connection (503 in
 * the 200-way redemption under load). With the defaults (5 s) the connections open and a burst
 * larger than the pool queues for them; a short `DATABASE_CONNECT_TIMEOUT_MS` still gives up,
 * and a refused connection (a stopped database) fails whatever the timeout.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { startMariadb } from '@portcullis/binding-testkit/servers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATABASE_POOL, parseConfig } from '../src/config.js';
import { openStorage, type Storage } from '../src/storage.js';

/** How long the relay holds back each new connection. */
const HOLD_MS = 1500;

let stopMariadb: (() => Promise<void>) | undefined;
let target: URL;
let relay: Server;
const sockets = new Set<Socket>();

/** A relay to `target` that connects upstream `HOLD_MS` after each client connects. */
function startRelay(): Promise<Server> {
  const server = createServer((client) => {
    sockets.add(client);
    client.pause();
    client.on('error', () => client.destroy());
    client.on('close', () => sockets.delete(client));
    const timer = setTimeout(() => {
      const up = tcpConnect(Number(target.port), target.hostname);
      sockets.add(up);
      up.on('error', () => client.destroy());
      up.on('close', () => {
        sockets.delete(up);
        client.destroy();
      });
      client.on('close', () => up.destroy());
      client.pipe(up);
      up.pipe(client);
      client.resume();
    }, HOLD_MS);
    client.on('close', () => clearTimeout(timer));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** The database URL with its host and port replaced by the relay's. */
function throughRelay(): string {
  const u = new URL(target);
  const address = relay.address();
  if (address === null || typeof address === 'string') throw new Error('the relay has no port');
  u.hostname = '127.0.0.1';
  u.port = String(address.port);
  return u.toString();
}

beforeAll(async () => {
  if (process.env.DATABASE_URL_MARIADB) {
    target = new URL(process.env.DATABASE_URL_MARIADB);
  } else {
    const server = await startMariadb();
    stopMariadb = () => server.stop();
    target = new URL(server.url);
  }
  relay = await startRelay();
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => (relay ? relay.close(() => resolve()) : resolve()));
  await stopMariadb?.();
});

describe('Sequelize on MariaDB', () => {
  it('answers the readiness pings (database and shared state) and runs a purge under the lock, releasing it', async () => {
    const storage = await openStorage({ kind: 'mariadb', url: target.toString() }, 'sequelize');
    try {
      await storage.ping();
      const kv = await storage.openKeyValue();
      await kv.ping();
      expect(await storage.tryExclusive('pool-test', async () => 'ran')).toEqual({ ran: true, value: 'ran' });
      // Released: taken again at once.
      expect(await storage.tryExclusive('pool-test', async () => 'again')).toEqual({ ran: true, value: 'again' });
    } finally {
      await storage.close();
    }
  });

  it('tells a second caller at once while the lock is held, and never runs it', async () => {
    const [one, two] = [
      await openStorage({ kind: 'mariadb', url: target.toString() }, 'sequelize'),
      await openStorage({ kind: 'mariadb', url: target.toString() }, 'sequelize'),
    ];
    try {
      let ranSecond = false;
      const outer = await one.tryExclusive('pool-test-held', async () =>
        two.tryExclusive('pool-test-held', async () => {
          ranSecond = true;
        }),
      );
      expect(outer).toEqual({ ran: true, value: { ran: false } });
      expect(ranSecond).toBe(false);
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });
});

describe('the SQL connection pool on MariaDB', () => {
  it('with the defaults, opens connections whose handshake takes 1.5 s, and queues a burst larger than the pool', async () => {
    expect(parseConfig({}).databasePool).toEqual(DEFAULT_DATABASE_POOL);
    const storage: Storage = await openStorage({ kind: 'mariadb', url: throughRelay() }, 'sequelize');
    try {
      // 60 queries at once on at most 10 connections, each new one held back 1.5 s by the relay.
      const results = await Promise.allSettled(Array.from({ length: 60 }, () => storage.listClients()));
      expect(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    } finally {
      await storage.close();
    }
  });

  it('with DATABASE_POOL_MAX=2, 40 queries at once all wait for the two connections', async () => {
    const pool = parseConfig({ DATABASE_POOL_MAX: '2' }).databasePool;
    const storage = await openStorage({ kind: 'mariadb', url: throughRelay() }, 'sequelize', pool);
    try {
      const results = await Promise.allSettled(Array.from({ length: 40 }, () => storage.listClients()));
      expect(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    } finally {
      await storage.close();
    }
  });

  it('gives up on a handshake longer than DATABASE_CONNECT_TIMEOUT_MS, and on a refused connection whatever the timeout', async () => {
    const short = parseConfig({ DATABASE_CONNECT_TIMEOUT_MS: '300' }).databasePool;
    await expect(openStorage({ kind: 'mariadb', url: throughRelay() }, 'sequelize', short)).rejects.toThrow(/timeout/i);
    // A port nothing listens on (the relay's, closed for this): refused at once, not after 10 minutes.
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    const u = new URL(target);
    u.hostname = '127.0.0.1';
    u.port = String(closed);
    const long = parseConfig({ DATABASE_CONNECT_TIMEOUT_MS: '600000', DATABASE_POOL_ACQUIRE_MS: '600000' }).databasePool;
    await expect(openStorage({ kind: 'mariadb', url: u.toString() }, 'sequelize', long)).rejects.toMatchObject({
      name: 'SequelizeConnectionRefusedError',
    });
  }, 20_000);
});
