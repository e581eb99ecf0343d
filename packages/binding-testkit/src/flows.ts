/**
 * End-to-end helpers: drive an `OAuth2Provider` through the authorization-code flow and the
 * token endpoint as a client would, and `grantCacheProviderSuite`, the end-to-end checks every
 * grant cache shares. Assertions use node:assert/strict, so they work under vitest and node:test.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  bindCacheGrant,
  type CurrentUser,
  createMemoryStores,
  digestToken,
  type GrantStore,
  hashSecret,
  type Logger,
  OAuth2Provider,
  type OAuthRequest,
  type OAuthResponse,
  type RegisterOptions,
  type StoreRegistry,
  type Stores,
} from '@portcullis/core';
import type { GrantProbe } from './grant.js';
import { isAbsent, resolveCapabilities, rid, type StoreCapabilities, type TestApi } from './shared.js';

/** A PKCE code verifier and its S256 challenge (RFC 7636). */
export interface PkcePair {
  readonly verifier: string;
  readonly challenge: string;
}

/** A fresh random PKCE verifier (43 characters) and its S256 challenge. */
export function pkcePair(): PkcePair {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/**
 * The `Authorization` header value for HTTP Basic client authentication: id and secret are
 * form-url-encoded first, as RFC 6749 section 2.3.1 asks (so `:`, `+`, `%` and spaces survive).
 */
export function basicAuth(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

/** A POST of `params` as an `application/x-www-form-urlencoded` body to `url`, with extra `headers`. */
export function formRequest(
  url: string,
  params: Readonly<Record<string, string>>,
  headers: Readonly<Record<string, string>> = {},
): OAuthRequest {
  return {
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
  };
}

/** A GET of `url` (a protected resource) carrying `token` as a Bearer token (RFC 6750). */
export function bearerRequest(token: string, url = '/api'): OAuthRequest {
  return { method: 'GET', url, headers: { authorization: `Bearer ${token}` } };
}

/** The JSON body of a provider response (token, revocation, introspection, errors). */
export function jsonBody(res: OAuthResponse): Record<string, unknown> {
  return JSON.parse(res.body) as Record<string, unknown>;
}

/** The `Location` header of a response, whichever case it was set in (`''` when absent). */
export function locationOf(res: OAuthResponse): string {
  return res.headers.Location ?? res.headers.location ?? '';
}

/** A logger that keeps what the provider logs, to check it (no secrets, outages) and keep test output clean. */
export function captureLogger(): Logger & { readonly lines: string[] } {
  const lines: string[] = [];
  const push = (m: string, meta?: Record<string, unknown>) => void lines.push(`${m} ${JSON.stringify(meta ?? {})}`);
  return { lines, warn: push, error: push };
}

/**
 * A `StoreRegistry` that records what a binding's bind function registers, to test it without a
 * provider: every `useStores` call in `stores`, every `setCurrentUser` call in `currentUsers`.
 */
export class RecordingRegistry implements StoreRegistry {
  readonly stores: { stores: Stores; options: RegisterOptions | undefined }[] = [];
  readonly currentUsers: { fn: CurrentUser; options: RegisterOptions | undefined }[] = [];
  /** Records the stores and options. */
  useStores(stores: Stores, options?: RegisterOptions): this {
    this.stores.push({ stores, options });
    return this;
  }
  /** Records the function and options. */
  setCurrentUser(fn: CurrentUser, options?: RegisterOptions): this {
    this.currentUsers.push({ fn, options });
    return this;
  }
}

/** The client a flow acts as, and where it reaches the provider. */
export interface FlowClient {
  readonly clientId: string;
  /** Sent with HTTP Basic at the token endpoint. Without it the client is public: `client_id` goes in the body. */
  readonly clientSecret?: string;
  readonly redirectUri: string;
  /**
   * Leave `redirect_uri` out of the authorization and token requests: the code then goes to the
   * client's only registered URI, which must be `redirectUri` (the grant records
   * `redirectUri: null`). Default `false`.
   */
  readonly omitRedirectUri?: boolean;
  /** Space-delimited scopes to ask for. Default `read`. */
  readonly scope?: string;
  /** Default `/authorize`. */
  readonly authorizeUrl?: string;
  /** Default `/token`. */
  readonly tokenUrl?: string;
}

/** Options of `approveAuthorization` and `authorizationCodeFlow`. */
export interface AuthorizationCodeFlowOptions extends FlowClient {
  /** Default `xyz`. */
  readonly state?: string;
  /** The user in the decision. Without it, the provider asks its registered `currentUser`. */
  readonly userId?: string;
  /** When given, the redirect's `iss` parameter (RFC 9207) must equal it. */
  readonly issuer?: string;
}

/** The provider methods the flows call; an `OAuth2Provider` has them. */
export type FlowProvider = Pick<OAuth2Provider, 'authorize' | 'completeAuthorization' | 'token' | 'verifyAccessToken'>;

/**
 * GET /authorize for a code with the S256 `challenge`, then the user's approval: returns the
 * provider's answer to the decision (the 302 redirect, or an error such as 503 when the grant
 * store is down). Throws when the request does not even reach the consent step.
 */
export async function approveAuthorization(
  provider: FlowProvider,
  options: AuthorizationCodeFlowOptions,
  challenge: string,
): Promise<OAuthResponse> {
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: options.clientId,
    ...(options.omitRedirectUri ? {} : { redirect_uri: options.redirectUri }),
    scope: options.scope ?? 'read',
    state: options.state ?? 'xyz',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  const a = await provider.authorize({ method: 'GET', url: `${options.authorizeUrl ?? '/authorize'}?${query}`, headers: {} });
  if (a.type !== 'consent') throw new Error(`expected the consent step, got ${a.response.status} ${a.response.body}`);
  return provider.completeAuthorization(
    a.request,
    options.userId === undefined ? { approved: true } : { approved: true, userId: options.userId },
  );
}

/** What `authorizationCodeFlow` got: the code, the PKCE verifier to redeem it with, and the redirect. */
export interface CodeFlowResult {
  readonly code: string;
  readonly verifier: string;
  readonly location: URL;
}

/**
 * The front half of the authorization-code flow with PKCE: a fresh verifier, the authorization
 * request, the user's approval. Asserts the redirect: 302 to `redirectUri` with the `state`, a
 * `code`, and `iss` when `options.issuer` is given. Redeem the code with `redeemCode`.
 */
export async function authorizationCodeFlow(provider: FlowProvider, options: AuthorizationCodeFlowOptions): Promise<CodeFlowResult> {
  const { verifier, challenge } = pkcePair();
  const redirect = await approveAuthorization(provider, options, challenge);
  assert.equal(redirect.status, 302, `the approval redirects: ${redirect.body}`);
  const location = new URL(locationOf(redirect));
  const target = new URL(options.redirectUri);
  assert.equal(`${location.origin}${location.pathname}`, `${target.origin}${target.pathname}`, 'the redirect goes to the redirect URI');
  assert.equal(location.searchParams.get('state'), options.state ?? 'xyz', 'the redirect carries the state');
  if (options.issuer !== undefined) assert.equal(location.searchParams.get('iss'), options.issuer, 'the redirect carries iss');
  const code = location.searchParams.get('code');
  assert.ok(code, 'the redirect carries a code');
  return { code, verifier, location };
}

/**
 * POST /token for the `authorization_code` grant as `client` (Basic when it has a secret), with
 * `redirect_uri` unless `client.omitRedirectUri`.
 */
export function redeemCode(provider: FlowProvider, client: FlowClient, code: string, verifier: string): Promise<OAuthResponse> {
  const params = {
    grant_type: 'authorization_code',
    code,
    ...(client.omitRedirectUri ? {} : { redirect_uri: client.redirectUri }),
    code_verifier: verifier,
  };
  return provider.token(
    client.clientSecret === undefined
      ? formRequest(client.tokenUrl ?? '/token', { ...params, client_id: client.clientId })
      : formRequest(client.tokenUrl ?? '/token', params, { authorization: basicAuth(client.clientId, client.clientSecret) }),
  );
}

/** Whether the provider, as a resource server, accepts `accessToken` for `scopes`. */
export async function tokenAccepted(provider: FlowProvider, accessToken: string, scopes: readonly string[] = ['read']): Promise<boolean> {
  return (await provider.verifyAccessToken(bearerRequest(accessToken), scopes)).ok;
}

/** The client `grantCacheProvider` registers, ready to pass to the flows (user `u1`, issuer checked). */
export const GRANT_CACHE_CLIENT = {
  clientId: 'c1',
  clientSecret: 's3cret-of-the-grant-cache-flow-client',
  redirectUri: 'https://app.example/cb',
  scope: 'read',
  userId: 'u1',
  issuer: 'http://127.0.0.1',
} as const satisfies AuthorizationCodeFlowOptions;

/**
 * A provider for testing a grant cache end to end: issuer `http://127.0.0.1`, memory stores for
 * clients (`GRANT_CACHE_CLIENT`) and tokens, and `grants` bound with `bindCacheGrant`.
 */
export async function grantCacheProvider(grants: GrantStore, logger: Logger = captureLogger()): Promise<OAuth2Provider> {
  const provider = new OAuth2Provider({
    issuer: GRANT_CACHE_CLIENT.issuer,
    grants: ['authorization_code', 'refresh_token', 'client_credentials'],
    logger,
  });
  provider.useStores(
    createMemoryStores({
      clients: [
        {
          id: GRANT_CACHE_CLIENT.clientId,
          secretHash: hashSecret(GRANT_CACHE_CLIENT.clientSecret),
          redirectUris: [GRANT_CACHE_CLIENT.redirectUri],
          grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
          scopes: ['read', 'write'],
        },
      ],
    }),
  );
  await bindCacheGrant(provider, grants, () => null);
  return provider;
}

/** Options of `grantCacheProviderSuite`. */
export interface GrantCacheProviderSuiteOptions {
  /** Shown in test titles. */
  name: string;
  /** Called once, in `beforeAll`; the suite's tests share the cache. */
  create: () => Promise<GrantStore>;
  /** Called once, in `afterAll`: close clients. */
  destroy?: () => Promise<void>;
  /**
   * When given, the suite also checks the raw entry after approval: present under the digest of
   * the code that core hands the cache, holding the user's id and never the code itself.
   */
  probe?: GrantProbe;
  /**
   * @deprecated Declare `capabilities` on the store instead (core's `StoreCapabilities`); the
   * suite reads `detectsReplay` from the store `create()` returns, which decides what a replayed
   * code must do to the tokens minted from it. When given, this overrides what the store
   * declares. The suite fails when neither says.
   */
  capabilities?: Pick<StoreCapabilities, 'detectsReplay'>;
}

/**
 * Registers the end-to-end checks every grant cache shares, on a provider built by
 * `grantCacheProvider`: the authorization-code flow with PKCE (and, with a probe, what the cache
 * holds); the flow without `redirect_uri` in either request (the grant's `null` `redirectUri`
 * through the cache); a code asked for with `redirect_uri` refused at the token endpoint without
 * it; a replayed code is refused, and revokes what it minted when the cache detects replay
 * (otherwise those tokens stay valid: the documented limit of such caches); a wrong PKCE
 * verifier is refused and still burns the code. No code ever appears in the logs.
 */
export function grantCacheProviderSuite(t: TestApi, options: GrantCacheProviderSuiteOptions): void {
  const title = `provider with the grant cache: ${options.name}`;
  t.describe(title, () => {
    let store: GrantStore | undefined;
    let detectsReplay = false;
    t.beforeAll(async () => {
      const created = await options.create();
      ({ detectsReplay } = resolveCapabilities(title, created, options.capabilities, ['detectsReplay']));
      store = created;
    });
    t.afterAll(async () => {
      await options.destroy?.();
    });

    /** A provider on the cache, a user of this test alone, and the code flow up to the redirect. */
    async function issue(asked: Pick<AuthorizationCodeFlowOptions, 'omitRedirectUri'> = {}) {
      assert.ok(store, 'create() did not run or failed');
      const logger = captureLogger();
      const provider = await grantCacheProvider(store, logger);
      const client = { ...GRANT_CACHE_CLIENT, ...asked, userId: rid('user') };
      const flow = await authorizationCodeFlow(provider, client);
      return { logger, provider, client, ...flow };
    }

    t.it('completes the authorization-code flow with PKCE', async () => {
      const { logger, provider, client, code, verifier } = await issue();
      if (options.probe) {
        // Core hands the cache a digest of the code, never the code itself.
        const raw = await options.probe.read(client.clientId, digestToken(code));
        assert.ok(!isAbsent(raw), 'the cache holds the code under its digest');
        const text = typeof raw === 'string' ? raw : JSON.stringify(raw);
        assert.ok(!text.includes(code), 'the raw entry does not hold the code');
        assert.ok(text.includes(client.userId), "the raw entry holds the user's id");
      }
      const res = await redeemCode(provider, client, code, verifier);
      assert.equal(res.status, 200, res.body);
      const body = jsonBody(res);
      assert.equal(body.token_type, 'Bearer');
      assert.equal(typeof body.access_token, 'string');
      assert.ok(await tokenAccepted(provider, String(body.access_token)));
      assert.ok(!logger.lines.join('\n').includes(code), 'the code is not logged');
    });

    t.it(
      'a replayed code is refused, and revokes what it minted when the cache detects replay (without, those tokens stay valid)',
      async () => {
        const { logger, provider, client, code, verifier } = await issue();
        const res = await redeemCode(provider, client, code, verifier);
        assert.equal(res.status, 200, res.body);
        const accessToken = String(jsonBody(res).access_token);
        const replay = await redeemCode(provider, client, code, verifier);
        assert.equal(replay.status, 400);
        assert.equal(jsonBody(replay).error, 'invalid_grant');
        assert.equal(
          await tokenAccepted(provider, accessToken),
          !detectsReplay,
          detectsReplay ? 'the replay revoked the family' : 'a cache without replay detection cannot revoke the family',
        );
        assert.ok(!logger.lines.join('\n').includes(code), 'the code is not logged');
      },
    );

    t.it('a code asked for without redirect_uri (the grant holds a null redirectUri) is redeemed without it', async () => {
      const { provider, client, code, verifier } = await issue({ omitRedirectUri: true });
      const res = await redeemCode(provider, client, code, verifier);
      assert.equal(res.status, 200, res.body);
      assert.ok(await tokenAccepted(provider, String(jsonBody(res).access_token)));
    });

    t.it(
      'a code asked for with redirect_uri is refused without it (RFC 6749 section 4.1.3), even for a single registered URI',
      async () => {
        const { provider, client, code, verifier } = await issue();
        const res = await redeemCode(provider, { ...client, omitRedirectUri: true }, code, verifier);
        assert.equal(res.status, 400, 'the cache must give the redirect URI back, not null');
        assert.equal(jsonBody(res).error, 'invalid_grant');
      },
    );

    t.it('a wrong PKCE verifier is refused and still burns the code', async () => {
      const { provider, client, code, verifier } = await issue();
      const wrong = await redeemCode(provider, client, code, pkcePair().verifier);
      assert.equal(wrong.status, 400);
      assert.equal(jsonBody(wrong).error, 'invalid_grant');
      const right = await redeemCode(provider, client, code, verifier);
      assert.equal(right.status, 400, 'the code is spent');
      assert.equal(jsonBody(right).error, 'invalid_grant');
    });
  });
}
