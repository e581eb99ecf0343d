/**
 * A deliberately permissive reference binding, and the provider suite that runs on it.
 *
 * The storage contract lets a store be lenient where core promises to check again: core re-checks
 * the expiry of every record it reads and the client of every code and token it is handed. A
 * store that returns what it is given (expired records, records of another client) is therefore a
 * legal binding, and the memory stores, which filter both, hide whether core's own checks work.
 * `createPermissiveStores` is that lenient binding; `permissiveProviderSuite` drives a provider
 * on it (or on a binding's stores layered over it) and asserts the exact refusal of each case.
 * Assertions use node:assert/strict, so the suite runs under vitest and node:test.
 */
import assert from 'node:assert/strict';
import {
  type AccessTokenRecord,
  type Client,
  type Consumed,
  type GrantRecord,
  generateClientSecret,
  hashSecret,
  OAuth2Provider,
  type OAuthResponse,
  type ProviderOptions,
  type RefreshTokenRecord,
  type Stores,
  type User,
  type UserCredentials,
} from '@portcullis/core';
import { authorizationCodeFlow, basicAuth, bearerRequest, captureLogger, formRequest, jsonBody, redeemCode } from './flows.js';
import { rid, type StoreCapabilities, type TestApi } from './shared.js';

/** A user of the permissive user store. */
export interface PermissiveUserSeed<U extends User = User> {
  readonly username: string;
  readonly user: U;
  /** From `hashPassword()`. */
  readonly passwordHash: string;
}

/** The permissive stores, with helpers to seed them and to age what they hold. */
export interface PermissiveStores<U extends User = User, C extends Client = Client> extends Required<Stores<U, C>> {
  addClient(client: C): void;
  addUser(seed: PermissiveUserSeed<U>): void;
  /**
   * Sets the `expiresAt` of every code and token held to `at` (default: now), so each is expired
   * by core's rule (`expiresAt <= now`). The stores keep returning them: refusing them is core's job.
   */
  expireAll(at?: Date): void;
}

type Held<T> = { record: T; consumed: boolean };

/**
 * The most lenient stores the contract allows. They never look at `expiresAt`, and
 * `consumeGrant` ignores the client it is given, so expired codes and tokens and codes of another
 * client come back to core as if valid. What core cannot check by itself is still reported as the
 * contract says: a consumed code or rotated refresh token answers `replayed` with its family
 * (`detectsReplay`), and a revoked token is gone (`null`). `getAccessToken` answers through a
 * promise (the memory store answers directly), so both paths of the resource check are exercised.
 * Records are copied in and out, like a real binding's.
 */
export function createPermissiveStores<U extends User = User, C extends Client = Client>(
  seed: { clients?: readonly C[]; users?: readonly PermissiveUserSeed<U>[] } = {},
): PermissiveStores<U, C> {
  const clients = new Map<string, C>();
  const users = new Map<string, PermissiveUserSeed<U>>();
  for (const c of seed.clients ?? []) clients.set(c.id, c);
  for (const u of seed.users ?? []) users.set(u.username, u);
  const codes = new Map<string, Held<GrantRecord>>();
  const access = new Map<string, AccessTokenRecord>();
  const refresh = new Map<string, Held<RefreshTokenRecord>>();
  const copy = <T extends { scopes: readonly string[]; expiresAt: Date }>(r: T): T => ({
    ...r,
    scopes: [...r.scopes],
    expiresAt: new Date(r.expiresAt),
  });

  return {
    clients: {
      async getClient(clientId) {
        return clients.get(clientId) ?? null;
      },
    },
    users: {
      async getUserByUsername(username): Promise<UserCredentials<U> | null> {
        const u = users.get(username);
        return u ? { user: u.user, passwordHash: u.passwordHash } : null;
      },
    },
    grants: {
      detectsReplay: true,
      async saveGrant(grant) {
        codes.set(grant.code, { record: copy(grant), consumed: false });
      },
      // Keyed by code alone: the code of any client comes back, whichever client asks.
      async consumeGrant(_clientId, code): Promise<Consumed<GrantRecord> | null> {
        const held = codes.get(code);
        if (!held) return null;
        if (held.consumed) return { outcome: 'replayed', grantId: held.record.grantId };
        held.consumed = true;
        return { outcome: 'consumed', record: copy(held.record) };
      },
    },
    tokens: {
      detectsReplay: true,
      async saveTokens(a, r) {
        access.set(a.token, copy(a));
        if (r) refresh.set(r.token, { record: copy(r), consumed: false });
      },
      async getAccessToken(token) {
        const a = access.get(token);
        return a ? copy(a) : null;
      },
      async getRefreshToken(token) {
        const held = refresh.get(token);
        return held && !held.consumed ? copy(held.record) : null;
      },
      async consumeRefreshToken(token): Promise<Consumed<RefreshTokenRecord> | null> {
        const held = refresh.get(token);
        if (!held) return null;
        if (held.consumed) return { outcome: 'replayed', grantId: held.record.grantId };
        held.consumed = true;
        return { outcome: 'consumed', record: copy(held.record) };
      },
      async revokeAccessToken(token) {
        access.delete(token);
      },
      async revokeFamily(grantId) {
        for (const [k, a] of access) if (a.grantId === grantId) access.delete(k);
        for (const [k, r] of refresh) if (r.record.grantId === grantId) refresh.delete(k);
        for (const [k, g] of codes) if (g.record.grantId === grantId) codes.delete(k);
      },
    },
    addClient: (c) => void clients.set(c.id, c),
    addUser: (u) => void users.set(u.username, u),
    expireAll(at = new Date()) {
      for (const held of codes.values()) held.record = { ...held.record, expiresAt: new Date(at) };
      for (const [k, a] of access) access.set(k, { ...a, expiresAt: new Date(at) });
      for (const held of refresh.values()) held.record = { ...held.record, expiresAt: new Date(at) };
    },
  };
}

/** Options of `permissiveProviderSuite`. */
export interface PermissiveProviderSuiteOptions {
  /** Shown in test titles. */
  name: string;
  /**
   * The binding's stores, called once in `beforeAll`. Each slot given replaces the permissive
   * reference's; the slots left out stay permissive. Without it the suite runs on the permissive
   * reference alone (what core's own tests do).
   */
  create?: () => Promise<Stores>;
  /** Called once, in `afterAll`: close clients. */
  destroy?: () => Promise<void>;
  /**
   * How finely the binding's slots keep expiry: the suite issues codes and tokens that live 50 ms
   * (`'ms'`) or 1 s (`'s'`) and waits them out. Default `'ms'`.
   */
  ttlGranularity?: StoreCapabilities['ttlGranularity'];
}

const CLIENT_A = 'kit-a';
const CLIENT_B = 'kit-b';
const REDIRECT = 'https://app.example/cb';

/**
 * The end-to-end refusals a provider must give whatever its stores return: a code or refresh token
 * of another client, and an expired code, access token or refresh token. Each check asserts the
 * exact status, `error` and headers. On the permissive reference these answers can only come from
 * core's own checks; on a binding they hold whether or not the store filters first, so a binding
 * author learns that a lenient store (one that returns what it is given) is safe with core.
 */
export function permissiveProviderSuite(t: TestApi, options: PermissiveProviderSuiteOptions): void {
  const lifetime = options.ttlGranularity === 's' ? 1 : 0.05;
  const waitMs = lifetime * 1000 + (options.ttlGranularity === 's' ? 1100 : 40);
  t.describe(`provider on permissive stores: ${options.name}`, () => {
    let stores: Stores | undefined;
    const secretA = generateClientSecret();
    const secretB = generateClientSecret();
    t.beforeAll(async () => {
      stores = options.create ? await options.create() : {};
    });
    t.afterAll(async () => {
      await options.destroy?.();
    });

    /** A provider whose every slot is permissive except those the binding provides. */
    function provider(extra: Partial<ProviderOptions> = {}) {
      assert.ok(stores, 'create() did not run or failed');
      const base = createPermissiveStores({
        clients: [CLIENT_A, CLIENT_B].map((id) => ({
          id,
          secretHash: hashSecret(id === CLIENT_A ? secretA : secretB),
          redirectUris: [REDIRECT],
          grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'] as const,
          scopes: ['read', 'write'],
        })),
      });
      const p = new OAuth2Provider({
        issuer: 'https://issuer.example',
        grants: ['authorization_code', 'refresh_token', 'client_credentials'],
        stores: { ...base, ...stores },
        logger: captureLogger(),
        ...extra,
      });
      return p;
    }
    const as = (id: string) => ({
      clientId: id,
      clientSecret: id === CLIENT_A ? secretA : secretB,
      redirectUri: REDIRECT,
      scope: 'read',
      userId: rid('user'),
    });
    const wait = () => new Promise((r) => setTimeout(r, waitMs));
    const refresh = (p: OAuth2Provider, id: string, token: string) =>
      p.token(
        formRequest(
          '/oauth/token',
          { grant_type: 'refresh_token', refresh_token: token },
          { authorization: basicAuth(id, id === CLIENT_A ? secretA : secretB) },
        ),
      );
    function refused(res: OAuthResponse, status: number, error: string, what: string): void {
      assert.equal(res.status, status, `${what}: ${res.body}`);
      assert.equal(jsonBody(res).error, error, what);
      assert.equal(res.headers['Cache-Control'], 'no-store', what);
    }
    async function tokens(p: OAuth2Provider, id = CLIENT_A) {
      const flow = await authorizationCodeFlow(p, as(id));
      const res = await redeemCode(p, as(id), flow.code, flow.verifier);
      assert.equal(res.status, 200, res.body);
      const body = jsonBody(res);
      return { access: String(body.access_token), refresh: String(body.refresh_token) };
    }

    t.it('a code redeemed by another client is invalid_grant (400)', async () => {
      const p = provider();
      const flow = await authorizationCodeFlow(p, as(CLIENT_A));
      // Same redirect URI and the right verifier: only the client check stands in the way. (Whether
      // the attempt spends the code depends on the store: both answers are legal.)
      refused(await redeemCode(p, as(CLIENT_B), flow.code, flow.verifier), 400, 'invalid_grant', 'the code of another client');
    });

    t.it('an expired code is invalid_grant (400)', async () => {
      const p = provider({ lifetimes: { authorizationCode: lifetime } });
      const flow = await authorizationCodeFlow(p, as(CLIENT_A));
      await wait();
      refused(await redeemCode(p, as(CLIENT_A), flow.code, flow.verifier), 400, 'invalid_grant', 'an expired code');
    });

    t.it('an expired access token is 401 invalid_token with a Bearer challenge, and inactive at introspection', async () => {
      const p = provider({ lifetimes: { accessToken: lifetime } });
      const { access } = await tokens(p);
      await wait();
      const r = await p.verifyAccessToken(bearerRequest(access), ['read']);
      assert.equal(r.ok, false, 'an expired access token is refused');
      if (r.ok) return;
      assert.equal(r.response.status, 401);
      assert.equal(jsonBody(r.response).error, 'invalid_token');
      assert.match(r.response.headers['WWW-Authenticate'] ?? '', /^Bearer realm="[^"]*", error="invalid_token"/);
      const intro = await p.introspect(
        formRequest('/oauth/introspect', { token: access }, { authorization: basicAuth(CLIENT_A, secretA) }),
      );
      assert.equal(intro.status, 200);
      assert.deepEqual(jsonBody(intro), { active: false });
    });

    for (const rotation of [true, false]) {
      const mode = rotation ? 'with rotation' : 'without rotation';
      t.it(`an expired refresh token is invalid_grant (400), ${mode}`, async () => {
        const p = provider({ refreshTokenRotation: rotation, lifetimes: { refreshToken: lifetime } });
        const { refresh: token } = await tokens(p);
        await wait();
        refused(await refresh(p, CLIENT_A, token), 400, 'invalid_grant', 'an expired refresh token');
      });
      t.it(`a refresh token used by another client is invalid_grant (400), ${mode}`, async () => {
        const p = provider({ refreshTokenRotation: rotation });
        const { refresh: token } = await tokens(p);
        refused(await refresh(p, CLIENT_B, token), 400, 'invalid_grant', 'the refresh token of another client');
      });
    }
  });
}
