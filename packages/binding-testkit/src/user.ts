import assert from 'node:assert/strict';
import type { User, UserStore } from '@portcullis/core';
import { type Check, check, label, registerSuite, rid, type TestApi } from './shared.js';

/** One user the suite seeds. */
export interface UserSeed {
  username: string;
  user: User;
  passwordHash: string;
}

/** Options of `userStoreSuite`. */
export interface UserSuiteOptions {
  /** Shown in test titles. */
  name: string;
  /**
   * Called by each test with the users it needs (random names, so earlier seeds never clash).
   * Return a store that finds them; it may be the same store each time.
   */
  create: (seed: UserSeed[]) => Promise<UserStore>;
  /** Called once, in `afterAll`: close everything `create` opened. */
  destroy?: () => Promise<void>;
}

/** What each user check runs against. */
export interface UserCheckContext {
  create: (seed: UserSeed[]) => Promise<UserStore>;
}

/** A user with random id, name and hash. */
export function makeUser(overrides: Partial<UserSeed> = {}): UserSeed {
  return {
    username: rid('alice'),
    user: { id: rid('user') },
    passwordHash: `scrypt$16384$8$1$${rid('salt')}$${rid('key')}`,
    ...overrides,
  };
}

async function assertFinds(store: UserStore, seed: UserSeed, what: string): Promise<void> {
  const found = await store.getUserByUsername(seed.username);
  assert.ok(found, `${what}: expected user ${JSON.stringify(seed.username)}, got null`);
  assert.equal(found.user.id, seed.user.id, `${what}: user id`);
  assert.equal(found.passwordHash, seed.passwordHash, `${what}: passwordHash`);
}

/** Every check of the user suite, by key. */
export const userChecks = {
  unknownUser: check<UserCheckContext>('an unknown username gives null', async ({ create }) => {
    const store = await create([makeUser()]);
    assert.equal(await store.getUserByUsername(rid('nobody')), null);
  }),

  knownUser: check<UserCheckContext>('a known username gives the user and its password hash', async ({ create }) => {
    const seed = makeUser();
    const store = await create([seed]);
    await assertFinds(store, seed, 'known user');
  }),

  manyUsers: check<UserCheckContext>('each username finds its own user, non-ASCII included', async ({ create }) => {
    const a = makeUser();
    const b = makeUser({ username: `${a.username}-2` });
    const c = makeUser({ username: `Zoë-${rid('日本')}-👩🏽‍💻` });
    const store = await create([a, b, c]);
    await assertFinds(store, a, 'first user');
    await assertFinds(store, b, 'user whose name extends the first');
    await assertFinds(store, c, 'non-ASCII username');
    assert.equal(await store.getUserByUsername(a.username.slice(0, -1)), null, 'a prefix of a username');
  }),
} satisfies Record<string, Check<UserCheckContext>>;

/** Registers the user-store contract tests. */
export function userStoreSuite(t: TestApi, options: UserSuiteOptions): void {
  registerSuite(t, label('UserStore', options.name), Object.values(userChecks), async () => ({ create: options.create }), options.destroy);
}
