import { expect } from 'vitest';
// Relative import: the testkit depends on core, so core cannot depend on it as a package.
import { basicAuth, formRequest, pkcePair } from '../../binding-testkit/src/flows.js';
import {
  type Client,
  createMemoryStores,
  OAuth2Provider,
  type OAuthRequest,
  type OAuthResponse,
  type ProviderOptions,
  type Stores,
} from '../src/index.js';
import { createPermissiveStores, type PermissiveStores } from './permissive-store.js';

export const ISSUER = 'https://auth.example';
export const CB = 'https://app.example/cb';
/** A secret with every character strict clients must form-encode in Basic credentials. */
export const SECRET = 'se:cr+et/%&= x';
/** The secret of the client `other`. */
export const OTHER_SECRET = 'other-secret';

// The hashes below were made once with `hashSecret` and `hashPassword` and are kept as text: this
// module does no work at import time, so a mutant of crypto.ts cannot break the import of every
// test file (StrykerJS 9.6.1 counts a test file that fails to import as a surviving mutant).
// `verifySecret` accepts them whatever the length rules of `hashSecret` become.
/** `hashSecret(SECRET)`. */
export const SECRET_HASH = 'sha256$r5svv7GrI-9EezBGXSYPog$EMIK3M-wlIoCnm6RBlAL2Dvsb55taaNehcSYdiJzwKs';
/** `hashSecret(OTHER_SECRET)`. */
export const OTHER_SECRET_HASH = 'sha256$IYhV62kuaeLfNfIK8bEG6A$61w-vZJ7jiab8lKRxgatMjIqo-GeurSTynYxjnH2VVg';

export const confidential: Client = {
  id: 'conf',
  secretHash: SECRET_HASH,
  redirectUris: [CB, 'https://app.example/other'],
  grantTypes: ['authorization_code', 'refresh_token', 'client_credentials', 'password', 'implicit'],
  scopes: ['read', 'write', 'admin'],
  defaultScopes: ['read'],
};
export const publicClient: Client = {
  id: 'pub',
  secretHash: null,
  redirectUris: ['http://127.0.0.1:9999/cb'],
  grantTypes: ['authorization_code', 'refresh_token'],
  scopes: ['read', 'write'],
};
export const other: Client = {
  id: 'other',
  secretHash: OTHER_SECRET_HASH,
  redirectUris: ['https://other.example/cb'],
  grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
  scopes: ['read'],
};

/** `hashPassword('correct horse')`, the password of the user `alice`. */
export const passwordHash = 'scrypt$16384$8$1$3a5aHiFhpavsiwJ4RoiDOA$iXuTg4BlPn9K2eHET7FM-tuBHIPrGhKtd1yMiFHkMHg';

/**
 * Which stores `makeProvider` builds: the memory stores (which filter expired records and codes of
 * other clients themselves) or the permissive reference (which returns them, so only core's own
 * checks refuse them). A test file that sets `permissive` before importing the suites runs them
 * again on it (see test/pinned/permissive-suites.test.ts).
 */
export type StoreKind = 'memory' | 'permissive';
let storeKind: StoreKind = 'memory';
export function useStoreKind(kind: StoreKind): void {
  storeKind = kind;
}
export function currentStoreKind(): StoreKind {
  return storeKind;
}

/** The stores `makeProvider` hands out: either kind can add clients and users at run time. */
export type TestStores = Pick<PermissiveStores, 'addClient' | 'addUser'> & Required<Stores>;

export function makeProvider(options: Partial<ProviderOptions> = {}, kind: StoreKind = storeKind) {
  const seed = {
    clients: [confidential, publicClient, other],
    users: [{ username: 'alice', user: { id: 'u-alice' }, passwordHash }],
  };
  const stores: TestStores = kind === 'permissive' ? createPermissiveStores(seed) : createMemoryStores(seed);
  const provider = new OAuth2Provider({
    issuer: ISSUER,
    grants: ['authorization_code', 'refresh_token', 'client_credentials', 'password', 'implicit'],
    stores,
    ...options,
  });
  return { provider, stores };
}

/** RFC 6749 section 2.3.1: id and secret are form-url-encoded before Basic encoding. */
export const basic = basicAuth;

export function form(params: Record<string, string>, headers: Record<string, string> = {}, url = '/oauth/token'): OAuthRequest {
  return formRequest(url, params, headers);
}

export function get(url: string, headers: Record<string, string> = {}): OAuthRequest {
  return { method: 'GET', url, headers };
}

export const pkce = pkcePair;

export function body(r: OAuthResponse): Record<string, unknown> {
  return r.body ? (JSON.parse(r.body) as Record<string, unknown>) : {};
}

export function location(r: OAuthResponse): URL {
  expect(r.status).toBe(302);
  return new URL(r.headers.Location!);
}

export function authorizeUrl(params: Record<string, string>): string {
  return `/oauth/authorize?${new URLSearchParams(params).toString()}`;
}

/** Runs the authorization request and approval; returns the code and the PKCE verifier. */
export async function getCode(
  provider: OAuth2Provider,
  opts: { client?: Client; scope?: string; redirectUri?: string; userId?: string; withPkce?: boolean } = {},
) {
  const client = opts.client ?? confidential;
  const { verifier, challenge } = pkce();
  const params: Record<string, string> = {
    response_type: 'code',
    client_id: client.id,
    redirect_uri: opts.redirectUri ?? client.redirectUris[0]!,
    scope: opts.scope ?? 'read write',
    state: 's-123',
  };
  if (opts.withPkce !== false) Object.assign(params, { code_challenge: challenge, code_challenge_method: 'S256' });
  const a = await provider.authorize(get(authorizeUrl(params)));
  if (a.type !== 'consent') throw new Error(`expected consent, got ${a.response.status} ${a.response.body} ${a.response.headers.Location}`);
  const r = await provider.completeAuthorization(a.request, { approved: true, userId: opts.userId ?? 'u-alice' });
  const loc = location(r);
  return { code: loc.searchParams.get('code')!, verifier, redirectUri: params.redirect_uri!, location: loc };
}

export async function exchange(provider: OAuth2Provider, code: string, verifier: string, redirectUri = CB, auth = basic('conf', SECRET)) {
  return provider.token(
    form({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }, { authorization: auth }),
  );
}
