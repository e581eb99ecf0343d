import assert from 'node:assert/strict';
import type { Client, ClientRegistrationStore, ClientStore } from '@portcullis/core';
import { type Check, check, concurrently, label, registerSuite, rid, type TestApi } from './shared.js';

/** The two stores the registration checks use: writes through one, reads through the other. */
export interface RegistrationStores {
  /** The client store core reads clients from (`ProviderStores.clients`). */
  clients: ClientStore;
  /** The writes of dynamic client registration (`ProviderStores.registrations`), on the same clients. */
  registrations: ClientRegistrationStore;
}

/** Options of `clientRegistrationStoreSuite`. */
export interface RegistrationSuiteOptions {
  /** Shown in test titles. */
  name: string;
  /** Called once, in `beforeAll`; the checks share the stores, each with its own random client ids. */
  create: () => Promise<RegistrationStores>;
  /** Called once, in `afterAll`: close everything `create` opened. */
  destroy?: () => Promise<void>;
  /** Concurrent callers in the concurrent-create check. Default 10. */
  concurrency?: number;
  /**
   * `false` for a store without the optional `markClientUsed` and `purgeUnusedClients`: the
   * `purgeUnused` check is then left out. Default `true`.
   */
  unusedPurge?: boolean;
}

/** What each registration check runs against. */
export interface RegistrationCheckContext extends RegistrationStores {
  /** Concurrent callers in the concurrent-create check (default 10). */
  concurrency?: number;
}

/**
 * A self-registered confidential client with every optional field set (random id), as core's
 * registration endpoint makes one, with millisecond parts in its dates and non-ASCII text.
 */
export function makeRegisteredClient(overrides: Partial<Client> = {}): Client {
  return {
    id: rid('dyn'),
    secretHash: `hmac-sha256$${rid('salt')}$${rid('digest')}`,
    redirectUris: ['https://app.example/cb', 'http://127.0.0.1:8080/callback?x=1'],
    grantTypes: ['refresh_token', 'authorization_code', 'client_credentials'],
    scopes: ['write', 'read'],
    defaultScopes: ['read'],
    tokenEndpointAuthMethod: 'client_secret_post',
    resourceServer: true,
    resources: ['https://api.example/', 'https://files.example/'],
    requirePushedAuthorizationRequests: true,
    dpopBoundAccessTokens: true,
    name: 'Café “Client” 🔑',
    uri: 'https://app.example/',
    logoUri: 'https://app.example/logo.png?v=2',
    clientSecretExpiresAt: new Date(Date.UTC(2031, 4, 6, 7, 8, 9, 123)),
    registration: {
      accessTokenHash: rid('rat-digest'),
      issuedAt: new Date(Date.UTC(2026, 11, 6, 18, 0, 1, 456)),
      contacts: ['ops@app.example', 'zoë@app.example'],
      softwareId: '4NRB1-0XZABZI9E6-5SM3R',
      softwareVersion: '2.1.0-β',
      responseTypes: ['code'],
    },
    ...overrides,
  };
}

/** A self-registered public client with no optional field but `registration` (random id). */
export function makeMinimalRegisteredClient(overrides: Partial<Client> = {}): Client {
  return {
    id: rid('dyn'),
    secretHash: null,
    redirectUris: ['com.example.app:/oauth'],
    grantTypes: ['authorization_code'],
    scopes: [],
    tokenEndpointAuthMethod: 'none',
    registration: { accessTokenHash: rid('rat-digest'), issuedAt: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)), responseTypes: ['code'] },
    ...overrides,
  };
}

const present = (o: object, key: string): boolean => (o as Record<string, unknown>)[key] !== undefined;

function assertDate(actual: unknown, expected: Date, what: string): void {
  assert.ok(actual instanceof Date, `${what} must come back as a Date, got ${JSON.stringify(actual)}`);
  assert.equal(actual.getTime(), expected.getTime(), `${what} must round-trip to the millisecond`);
}

function assertOptional(actual: object, expected: object, key: string, what: string): void {
  const a = (actual as Record<string, unknown>)[key];
  const e = (expected as Record<string, unknown>)[key];
  if (e === undefined) {
    assert.ok(!present(actual, key), `${what}: ${key} must stay absent (not null), got ${JSON.stringify(a)}`);
  } else if (Array.isArray(e)) {
    assert.ok(Array.isArray(a), `${what}: ${key} must come back as an array, got ${JSON.stringify(a)}`);
    assert.deepEqual([...a], [...e], `${what}: ${key} must round-trip (in order)`);
  } else {
    assert.equal(a, e, `${what}: ${key}`);
  }
}

/** A flag whose `false` means the same as unset: `true` must come back `true`, anything else absent or `false`. */
function assertFlag(
  actual: Client,
  expected: Client,
  key: 'resourceServer' | 'requirePushedAuthorizationRequests' | 'dpopBoundAccessTokens',
  what: string,
): void {
  const a: unknown = actual[key];
  if (expected[key] === true) assert.equal(a, true, `${what}: ${key} must come back true`);
  else assert.ok(a === undefined || a === false, `${what}: ${key} must stay absent or false, got ${JSON.stringify(a)}`);
}

/**
 * Asserts `actual` is `expected` field by field, strictly: arrays in order, dates as `Date`s to
 * the millisecond, absent optional fields absent (not `null`), `clientSecretExpiresAt: null` as
 * `null`, and `registration` whole. Flags whose `false` means unset may come back absent.
 * Attributes outside `Client` (extra columns of a binding) are not looked at.
 */
export function assertClientExactly(actual: Client | null, expected: Client, what: string): void {
  assert.ok(actual, `${what}: expected client ${JSON.stringify(expected.id)}, got null`);
  assert.equal(actual.id, expected.id, `${what}: id`);
  assert.equal(actual.secretHash, expected.secretHash, `${what}: secretHash`);
  for (const key of ['redirectUris', 'grantTypes', 'scopes'] as const) {
    assert.ok(Array.isArray(actual[key]), `${what}: ${key} must be an array`);
    assert.deepEqual([...actual[key]], [...expected[key]], `${what}: ${key} must round-trip (in order)`);
  }
  for (const key of ['defaultScopes', 'resources', 'tokenEndpointAuthMethod', 'name', 'uri', 'logoUri'] as const) {
    assertOptional(actual, expected, key, what);
  }
  for (const key of ['resourceServer', 'requirePushedAuthorizationRequests', 'dpopBoundAccessTokens'] as const) {
    assertFlag(actual, expected, key, what);
  }
  const at = expected.clientSecretExpiresAt;
  if (at === undefined) assertOptional(actual, expected, 'clientSecretExpiresAt', what);
  else if (at === null) assert.equal(actual.clientSecretExpiresAt, null, `${what}: clientSecretExpiresAt null must come back null`);
  else assertDate(actual.clientSecretExpiresAt, at, `${what}: clientSecretExpiresAt`);
  const reg = expected.registration;
  if (reg === undefined) {
    assertOptional(actual, expected, 'registration', what);
    return;
  }
  const got = actual.registration;
  assert.ok(got && typeof got === 'object', `${what}: registration must come back, got ${JSON.stringify(got)}`);
  assert.equal(got.accessTokenHash, reg.accessTokenHash, `${what}: registration.accessTokenHash`);
  assertDate(got.issuedAt, reg.issuedAt, `${what}: registration.issuedAt`);
  for (const key of ['contacts', 'softwareId', 'softwareVersion', 'responseTypes'] as const) {
    assertOptional(got, reg, key, `${what}: registration`);
  }
}

const n = (ctx: RegistrationCheckContext) => ctx.concurrency ?? 10;

/** Every check of the client-registration suite, by key. */
export const registrationChecks = {
  roundTrip: check<RegistrationCheckContext>('createClient, then getClient gives every field back exactly', async (ctx) => {
    const full = makeRegisteredClient();
    assert.equal(await ctx.registrations.createClient(full), true, 'createClient of a new id must answer true');
    assertClientExactly(await ctx.clients.getClient(full.id), full, 'client with every field');
    const minimal = makeMinimalRegisteredClient();
    assert.equal(await ctx.registrations.createClient(minimal), true);
    assertClientExactly(await ctx.clients.getClient(minimal.id), minimal, 'client with no optional field');
    // `clientSecretExpiresAt: null` (a secret that never expires) is not the same record as an unset one.
    const never = makeRegisteredClient({ clientSecretExpiresAt: null, resourceServer: false, dpopBoundAccessTokens: false });
    assert.equal(await ctx.registrations.createClient(never), true);
    assertClientExactly(await ctx.clients.getClient(never.id), never, 'client whose secret never expires');
    // An unregistered client written through the store (no registration, empty lists kept empty).
    const plain = makeMinimalRegisteredClient({ registration: undefined, scopes: [], defaultScopes: [], resources: [] });
    assert.equal(await ctx.registrations.createClient(plain), true);
    assertClientExactly(await ctx.clients.getClient(plain.id), plain, 'client without registration');
  }),

  createExisting: check<RegistrationCheckContext>('createClient of an existing id answers false and changes nothing', async (ctx) => {
    const first = makeRegisteredClient();
    assert.equal(await ctx.registrations.createClient(first), true);
    const second = makeMinimalRegisteredClient({ id: first.id });
    assert.equal(await ctx.registrations.createClient(second), false, 'createClient of an existing id must answer false');
    assertClientExactly(await ctx.clients.getClient(first.id), first, 'the first client after a refused create');
  }),

  createConcurrent: check<RegistrationCheckContext>('of N concurrent creates of one id exactly one answers true', async (ctx) => {
    const id = rid('dyn');
    const candidates = Array.from({ length: n(ctx) }, (_, i) => makeRegisteredClient({ id, name: `candidate ${i}` }));
    let i = 0;
    const answers = await concurrently(candidates.length, async () => {
      const c = candidates[i++] as Client;
      return (await ctx.registrations.createClient(c)) ? c : null;
    });
    const winners = answers.filter((a): a is Client => a !== null);
    assert.equal(winners.length, 1, `exactly one of ${answers.length} concurrent creates must win, ${winners.length} did`);
    assertClientExactly(await ctx.clients.getClient(id), winners[0] as Client, 'the winner of concurrent creates');
  }),

  updateReplaces: check<RegistrationCheckContext>('updateClient replaces the whole record: fields it leaves out are gone', async (ctx) => {
    const full = makeRegisteredClient();
    await ctx.registrations.createClient(full);
    // As core's management update does: the new record, an unset field given as an own `undefined`.
    const replaced = {
      ...makeMinimalRegisteredClient({ id: full.id, redirectUris: ['https://other.example/cb'], scopes: ['read'] }),
      clientSecretExpiresAt: undefined,
    };
    assert.equal(await ctx.registrations.updateClient(replaced), true, 'updateClient of an existing id must answer true');
    assertClientExactly(await ctx.clients.getClient(full.id), replaced, 'client after an update removing fields');
    // And back: every field set again, the secret expiry now null, the registration rotated.
    const again = makeRegisteredClient({ id: full.id, clientSecretExpiresAt: null, name: 'renamed' });
    assert.equal(await ctx.registrations.updateClient(again), true);
    assertClientExactly(await ctx.clients.getClient(full.id), again, 'client after an update adding fields');
  }),

  unknownIds: check<RegistrationCheckContext>(
    'updateClient and deleteClient of an unknown id answer false and create nothing',
    async (ctx) => {
      const ghost = makeRegisteredClient();
      assert.equal(await ctx.registrations.updateClient(ghost), false, 'updateClient of an unknown id must answer false');
      assert.equal(await ctx.clients.getClient(ghost.id), null, 'updateClient of an unknown id must not create it');
      assert.equal(await ctx.registrations.deleteClient(ghost.id), false, 'deleteClient of an unknown id must answer false');
      assert.equal(await ctx.registrations.deleteClient(''), false, 'deleteClient of the empty id');
      // An id longer than any id column: no such client can exist, so the answer is false, not an error.
      const long = makeRegisteredClient({ id: `${'x'.repeat(300)}-${rid('long')}` });
      assert.equal(await ctx.registrations.updateClient(long), false, 'updateClient of a 300-character unknown id');
      assert.equal(await ctx.registrations.deleteClient(long.id), false, 'deleteClient of a 300-character unknown id');
    },
  ),

  delete: check<RegistrationCheckContext>('deleteClient removes the client, once; its id may be registered again', async (ctx) => {
    const client = makeRegisteredClient();
    const other = makeRegisteredClient();
    await ctx.registrations.createClient(client);
    await ctx.registrations.createClient(other);
    assert.equal(await ctx.registrations.deleteClient(client.id), true, 'deleteClient of an existing id must answer true');
    assert.equal(await ctx.clients.getClient(client.id), null, 'getClient after deleteClient');
    assert.equal(await ctx.registrations.deleteClient(client.id), false, 'a second deleteClient');
    assert.equal(await ctx.registrations.updateClient(client), false, 'updateClient after deleteClient');
    assertClientExactly(await ctx.clients.getClient(other.id), other, 'another client after a delete');
    assert.equal(await ctx.registrations.createClient(client), true, 'createClient after deleteClient');
    assertClientExactly(await ctx.clients.getClient(client.id), client, 'the client registered again');
  }),

  purgeUnused: check<RegistrationCheckContext>(
    'markClientUsed marks once; purgeUnusedClients removes only never-used registrations older than the cut, at most limit',
    async (ctx) => {
      const r = ctx.registrations;
      assert.equal(typeof r.markClientUsed, 'function', 'the store must implement markClientUsed (or pass unusedPurge: false)');
      assert.equal(typeof r.purgeUnusedClients, 'function', 'the store must implement purgeUnusedClients (or pass unusedPurge: false)');
      const mark = r.markClientUsed!.bind(r);
      const purge = r.purgeUnusedClients!.bind(r);
      // Dates long before every other check's clients, so the purge touches none of theirs.
      const cut = new Date(Date.UTC(2001, 0, 1));
      const old = (ms: number) => new Date(Date.UTC(1999, 5, 7, 8, 9, 10, ms));
      const reg = (c: Client, issuedAt: Date): Client => ({ ...c, registration: { ...c.registration!, issuedAt } });
      const unused = [
        reg(makeRegisteredClient(), old(1)),
        reg(makeMinimalRegisteredClient(), old(2)),
        reg(makeMinimalRegisteredClient(), old(3)),
        reg(makeRegisteredClient(), cut), // registered at the cut, not before it
        reg(makeMinimalRegisteredClient(), new Date(cut.getTime() - 1)),
      ];
      const used = reg(makeRegisteredClient(), old(4));
      const young = reg(makeMinimalRegisteredClient(), new Date(Date.UTC(2001, 5, 1, 0, 0, 0, 5)));
      // A statically configured client written through the store: no registration, never purged.
      const fixed = makeRegisteredClient({ registration: undefined });
      for (const c of [...unused, used, young, fixed]) assert.equal(await r.createClient(c), true);

      const at = new Date(Date.UTC(2000, 1, 2, 3, 4, 5, 678));
      assert.equal(await mark(used.id, at), true, 'markClientUsed of an unmarked registered client must answer true');
      assert.equal(await mark(used.id, new Date(at.getTime() + 1000)), false, 'a second markClientUsed must answer false');
      const got = await ctx.clients.getClient(used.id);
      assertDate(got?.registration?.firstUsedAt, at, 'registration.firstUsedAt after markClientUsed (the first mark kept)');
      assertClientExactly(got, used, 'a marked client (every other field unchanged)');
      assert.equal(await mark(fixed.id, at), false, 'markClientUsed of a client without registration must answer false');
      assert.equal((await ctx.clients.getClient(fixed.id))?.registration, undefined, 'markClientUsed must not add a registration');
      assert.equal(await mark(rid('ghost'), at), false, 'markClientUsed of an unknown id must answer false');
      // An update given the record without the mark (read before it) keeps the mark.
      assert.equal(await r.updateClient({ ...used, name: 'renamed' }), true);
      assertDate(
        (await ctx.clients.getClient(used.id))?.registration?.firstUsedAt,
        at,
        'registration.firstUsedAt after an update that left it out',
      );

      assert.equal(await purge(cut, 0), 0, 'purgeUnusedClients with limit 0 must remove nothing');
      for (const c of unused) assert.ok(await ctx.clients.getClient(c.id), 'limit 0 removed a client');
      assert.equal(await purge(cut, 2), 2, 'purgeUnusedClients must remove exactly limit clients when more are due');
      let removed = 2;
      for (let i = 0; i < 1000; i++) {
        const n = await purge(cut, 2);
        assert.ok(n >= 0 && n <= 2, `purgeUnusedClients answered ${n} for limit 2`);
        removed += n;
        if (n < 2) break;
      }
      assert.ok(removed >= 4, `at least the 4 due clients must be removed, ${removed} were`);
      for (const c of [unused[0]!, unused[1]!, unused[2]!, unused[4]!]) {
        assert.equal(await ctx.clients.getClient(c.id), null, 'a never-used client registered before the cut must be purged');
      }
      assert.ok(await ctx.clients.getClient(unused[3]!.id), 'a client registered exactly at the cut must be kept');
      assert.ok(await ctx.clients.getClient(used.id), 'a used client must be kept');
      assertClientExactly(await ctx.clients.getClient(young.id), young, 'a never-used client registered after the cut');
      assertClientExactly(await ctx.clients.getClient(fixed.id), fixed, 'a client without registration');
      assert.equal(await purge(cut, 10), 0, 'nothing is left to purge');
      for (const c of [unused[3]!, used, young, fixed]) await r.deleteClient(c.id);
    },
  ),

  listClients: check<RegistrationCheckContext>(
    'listClients pages through clients in code-point id order, continuing after the last id of a page',
    async (ctx) => {
      const r = ctx.registrations;
      assert.ok(r.listClients, 'the registration store must have listClients');
      const list = r.listClients.bind(r);
      // Ids under one random prefix (other rows may share the table). No two differ only in case
      // or accent (a case- or accent-insensitive unique id would refuse them); every character is
      // below U+D800, where UTF-16 and code-point order agree.
      const prefix = rid('list');
      const suffixes = ['z', 'B', '中', '0', '_u', 'a', 'é', '-d', 'Z9', 'Ω'];
      const ids = suffixes.map((x) => `${prefix}.${x}`);
      const want = [...ids].sort((a, b) => {
        const x = [...a].map((ch) => ch.codePointAt(0)!);
        const y = [...b].map((ch) => ch.codePointAt(0)!);
        for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
        return x.length - y.length;
      });
      const made = ids.map((id) => makeMinimalRegisteredClient({ id }));
      for (const c of made) assert.equal(await r.createClient(c), true);
      const mine = (page: { clients: readonly Client[] }) => page.clients.map((c) => c.id).filter((id) => id.startsWith(`${prefix}.`));
      try {
        for (const size of [1, 2, 3]) {
          const seen: string[] = [];
          let after: string | null = prefix;
          for (let i = 0; i < 100 && after !== null && seen.length < want.length; i++) {
            const page = await list(after, size);
            assert.ok(page.clients.length <= size, `a page of limit ${size} held ${page.clients.length} clients`);
            if (page.next !== null) assert.equal(page.next, page.clients.at(-1)?.id, 'next must be the last id of the page');
            if (page.clients.length < size) assert.equal(page.next, null, 'a short page must be the last (next null)');
            seen.push(...mine(page));
            after = page.next;
          }
          assert.deepEqual(seen, want, `pages of ${size} must give the ids in code-point order`);
        }
        const all = await list(prefix, 1000);
        assert.deepEqual(mine(all), want, 'one page larger than the set must hold it all, in code-point order');
        const full = all.clients.find((c) => c.id === want[0]);
        assertClientExactly(full ?? null, made.find((c) => c.id === want[0])!, 'a listed client');
        const mid = await list(want[3]!, 2);
        assert.deepEqual(mine(mid), want.slice(4, 6), 'after = an id continues strictly after it');
        const end = await list('\uffff\uffff', 5);
        assert.deepEqual(end, { clients: [], next: null }, 'after the last id: no clients and next null');
        // Hostile input: an operator-looking string is just an id to compare; an object is refused.
        const op = await list('{"$gt":""}', 1000);
        for (const c of op.clients) assert.ok(c.id > '{"$gt":""}', `after a string, ${c.id} must not be listed`);
        assert.ok(!op.clients.some((c) => c.id.startsWith(`${prefix}.`)), 'ids below an operator-looking after must not be listed');
        await assert.rejects(list({ $gt: '' } as unknown as string, 10), 'an object after must be refused');
        for (const bad of [0, -1, 1.5, Number.NaN]) await assert.rejects(list(null, bad), `limit ${bad} must be refused`);
      } finally {
        for (const id of ids) await r.deleteClient(id);
      }
    },
  ),
} satisfies Record<string, Check<RegistrationCheckContext>>;

/**
 * Registers the `ClientRegistrationStore` contract tests (RFC 7591/7592 writes): exact round
 * trips through `ClientStore.getClient`, one winner among concurrent creates, whole-record
 * updates, `false` for unknown ids, and the first-use mark and purge of never-used registrations
 * (`markClientUsed`, `purgeUnusedClients`; leave them out with `unusedPurge: false`), and
 * `listClients` paging in code-point id order with its input refused when malformed.
 */
export function clientRegistrationStoreSuite(t: TestApi, options: RegistrationSuiteOptions): void {
  registerSuite(
    t,
    label('ClientRegistrationStore', options.name),
    Object.values(registrationChecks).filter((c) => options.unusedPurge !== false || c !== registrationChecks.purgeUnused),
    async () => ({ ...(await options.create()), concurrency: options.concurrency }),
    options.destroy,
  );
}
