/**
 * `@portcullis/binding-testkit/servers`: what a store's tests need to run a real server of their
 * own and take it away. Launchers for the servers the Portcullis stores run on (`startPostgres`,
 * `startMariadb`, `startRedis`, `startRedisCluster`, `startMemcached`); the process handling
 * under them for other servers (`spawnServer`, `freePort`, `findBinary`...); bounded retries; and
 * checks that a store fails fast with `StoreUnavailableError` while its server is gone and
 * recovers by itself. A separate entry point: the contract suites never load node:child_process.
 */
import assert from 'node:assert/strict';
import { type GrantRecord, type GrantStore, StoreUnavailableError } from '@portcullis/core';
import {
  approveAuthorization,
  captureLogger,
  GRANT_CACHE_CLIENT,
  grantCacheProvider,
  jsonBody,
  locationOf,
  pkcePair,
  redeemCode,
} from './flows.js';
import { makeGrant } from './grant.js';
import { eventually, type SpawnedServer, settlesWithin } from './process.js';

export {
  type DatabaseServer,
  type MemcachedServer,
  type RedisCluster,
  type RedisOptions,
  type RedisServer,
  startMariadb,
  startMemcached,
  startPostgres,
  startRedis,
  startRedisCluster,
} from './launchers.js';
export {
  eventually,
  findBinary,
  freePort,
  listening,
  type SpawnedServer,
  type SpawnServerOptions,
  settlesWithin,
  sleep,
  spawnServer,
  textCommand,
} from './process.js';

/** Asserts that `promise` rejects with a `StoreUnavailableError` within 5 s (not by hanging). */
export async function expectUnavailable(promise: Promise<unknown>, what: string): Promise<StoreUnavailableError> {
  const outcome = await settlesWithin(
    5000,
    promise.then(
      () => new Error(`${what} succeeded while the server was down`),
      (err: unknown) => err,
    ),
    what,
  );
  if (!(outcome instanceof StoreUnavailableError)) {
    throw new Error(`${what}: expected StoreUnavailableError, got ${String(outcome)}`, { cause: outcome });
  }
  return outcome;
}

/** A server a test can take away and bring back: what `spawnServer` returns, or a wrapper of it. */
export interface StoppableServer {
  stop(): Promise<void>;
  restart(): Promise<void>;
}

/**
 * A grant cache's outage check: saves two codes and consumes one, stops the server, expects
 * `saveGrant` and `consumeGrant` to fail with `StoreUnavailableError` (three times each), restarts
 * the server and expects a code saved then to be consumed once the store has reconnected by
 * itself. The server must keep nothing across a restart (a throwaway test server), so the code
 * saved before the outage is gone.
 */
export async function checkDownAndBack(store: GrantStore, server: StoppableServer): Promise<void> {
  const before = makeGrant();
  await store.saveGrant(before);
  const pending = makeGrant();
  await store.saveGrant(pending);
  assert.equal((await store.consumeGrant(before.clientId, before.code))?.outcome, 'consumed');

  await server.stop();
  for (let i = 0; i < 3; i++) {
    await expectUnavailable(store.saveGrant(makeGrant()), `saveGrant #${i} while down`);
    await expectUnavailable(store.consumeGrant(pending.clientId, pending.code), `consumeGrant #${i} while down`);
  }

  await server.restart();
  const after = makeGrant();
  await eventually(() => store.saveGrant(after), 'saveGrant after restart');
  const result = await store.consumeGrant(after.clientId, after.code);
  assert.equal(result?.outcome, 'consumed', 'a code saved after the restart is consumed');
  assert.equal(await store.consumeGrant(pending.clientId, pending.code), null, 'the server kept nothing across the restart');
}

/**
 * A grant cache's check for a server that is not up when the store is created: both methods fail
 * fast with `StoreUnavailableError`, then work once the server starts. `create` builds the store
 * for the stopped `server`; `close` releases it.
 */
export async function checkDownFromStart<S extends GrantStore>(
  server: StoppableServer,
  create: () => S,
  close: (store: S) => Promise<void>,
): Promise<void> {
  await server.stop();
  const store = create();
  try {
    const grant = makeGrant();
    await expectUnavailable(store.saveGrant(grant), 'saveGrant before the server is up');
    await expectUnavailable(store.consumeGrant(grant.clientId, grant.code), 'consumeGrant before the server is up');
    await server.restart();
    await eventually(() => store.saveGrant(grant), 'saveGrant once the server is up');
    assert.equal((await store.consumeGrant(grant.clientId, grant.code))?.outcome, 'consumed');
  } finally {
    await close(store);
  }
}

/**
 * The first half of a grant cache's frozen-server check: saves a code, freezes the server
 * (connections open, no answers) and expects `saveGrant` and `consumeGrant` to fail with
 * `StoreUnavailableError` rather than hang, then lets the server run again.
 * @returns the code saved before the freeze, whose fate after the thaw is store-specific.
 */
export async function checkFrozen(store: GrantStore, server: Pick<SpawnedServer, 'pause' | 'resume'>): Promise<GrantRecord> {
  const pending = makeGrant();
  await eventually(() => store.saveGrant(pending), 'saveGrant before freezing');
  await server.pause();
  try {
    await expectUnavailable(store.saveGrant(makeGrant()), 'saveGrant while frozen');
    await expectUnavailable(store.consumeGrant(pending.clientId, pending.code), 'consumeGrant while frozen');
  } finally {
    server.resume();
  }
  return pending;
}

/**
 * A grant cache's end-to-end outage check, on a provider built by `grantCacheProvider`: while
 * the server is stopped, the approval and the token request for a code issued before answer 503
 * `temporarily_unavailable` (with `Retry-After`); after a restart the whole code flow works again,
 * the outage was logged and the code never was.
 */
export async function checkProviderDownAndBack(grants: GrantStore, server: StoppableServer): Promise<void> {
  const logger = captureLogger();
  const provider = await grantCacheProvider(grants, logger);
  const client = GRANT_CACHE_CLIENT;
  const before = pkcePair();
  const issued = new URL(locationOf(await approveAuthorization(provider, client, before.challenge))).searchParams.get('code');
  assert.ok(issued, 'a code was issued while the server was up');

  await server.stop();
  const decision = await approveAuthorization(provider, client, pkcePair().challenge);
  assert.equal(decision.status, 503);
  assert.equal(jsonBody(decision).error, 'temporarily_unavailable');
  const token = await redeemCode(provider, client, issued, before.verifier);
  assert.equal(token.status, 503);
  assert.equal(jsonBody(token).error, 'temporarily_unavailable');
  assert.equal(token.headers['Retry-After'], '1');

  await server.restart();
  const after = pkcePair();
  const redirect = await eventually(async () => {
    const r = await approveAuthorization(provider, client, after.challenge);
    assert.equal(r.status, 302, r.body);
    return r;
  }, 'authorization after restart');
  const code = new URL(locationOf(redirect)).searchParams.get('code') ?? '';
  const res = await redeemCode(provider, client, code, after.verifier);
  assert.equal(res.status, 200, res.body);
  assert.ok(
    logger.lines.some((l) => l.includes('temporarily_unavailable')),
    'the outage was logged',
  );
  assert.ok(!logger.lines.join('\n').includes(issued), 'the code is not logged');
}
