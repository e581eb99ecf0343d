import {
  type AuthorizationCodeFlowOptions,
  authorizationCodeFlow,
  basicAuth,
  bearerRequest,
  formRequest,
  jsonBody,
  pkcePair,
  redeemCode,
} from '@portcullis/binding-testkit';
import { hashPassword, hashSecret, OAuth2Provider, type OAuthRequest, type OAuthResponse } from '@portcullis/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindMongoose } from '../src/index.js';
import { openTestDatabase, type TestDatabase } from './connect.js';

// A provider whose every store is this binding, on the test server, driven through each grant.
const CB = 'https://app.example/cb';
const SECRET = 's3cret:+%/-with-every-odd-character-0123';
const form = (params: Record<string, string>, headers: Record<string, string> = {}): OAuthRequest =>
  formRequest('/oauth/token', params, headers);
const asClient = { authorization: basicAuth('c1', SECRET) };
const body = jsonBody;
const bearer = (token: unknown): OAuthRequest => bearerRequest(String(token));
// No userId in the decision: the binding's currentUser names the user.
const client: AuthorizationCodeFlowOptions = {
  clientId: 'c1',
  clientSecret: SECRET,
  redirectUri: CB,
  scope: 'read write',
  authorizeUrl: '/oauth/authorize',
  tokenUrl: '/oauth/token',
  issuer: 'http://127.0.0.1',
};

let db: TestDatabase;
let provider: OAuth2Provider;
const silent = { warn: () => {}, error: () => {} };

beforeAll(async () => {
  db = await openTestDatabase('provider');
  await db.models.client.create({
    clientId: 'c1',
    secretHash: hashSecret(SECRET),
    redirectUris: [CB],
    grantTypes: ['authorization_code', 'refresh_token', 'client_credentials', 'password'],
    scopes: ['read', 'write'],
  });
  const other = { secretHash: hashSecret(SECRET), redirectUris: [], grantTypes: ['client_credentials'], scopes: [] };
  // May introspect every client's tokens (RFC 7662 section 4); and an ordinary client.
  await db.models.client.create({ ...other, clientId: 'rs', resourceServer: true });
  await db.models.client.create({ ...other, clientId: 'plain' });
  await db.models.user.create({ userId: 'u1', username: 'alice', passwordHash: await hashPassword('correct horse') });
  provider = new OAuth2Provider({
    issuer: 'http://127.0.0.1',
    grants: ['authorization_code', 'refresh_token', 'client_credentials', 'password'],
    logger: silent,
  });
  bindMongoose(provider, {
    connection: db.connection,
    client: true,
    user: true,
    grant: true,
    token: true,
    currentUser: () => ({ id: 'u1' }),
  });
});
afterAll(async () => {
  await db?.close();
});

const authorizationCode = () => authorizationCodeFlow(provider, client);
const exchange = (code: string, verifier: string) => redeemCode(provider, client, code, verifier);

describe('a provider wired with bindMongoose', () => {
  it('authorization_code with PKCE, then a replayed code revokes what it minted', async () => {
    const { code, verifier } = await authorizationCode();
    // The raw code is not at rest: only the digest core hands over, hashed again.
    const raw = await db.models.grant.collection.find({}).toArray();
    expect(JSON.stringify(raw)).not.toContain(code);

    const res = await exchange(code, verifier);
    expect(res.status, res.body).toBe(200);
    const tokens = body(res);
    expect(tokens).toMatchObject({ token_type: 'Bearer', scope: 'read write' });
    const ok = await provider.verifyAccessToken(bearer(tokens.access_token), ['read', 'write']);
    expect(ok.ok && ok.token).toMatchObject({ clientId: 'c1', userId: 'u1' });

    const replay = await exchange(code, verifier);
    expect(replay.status).toBe(400);
    expect(body(replay).error).toBe('invalid_grant');
    expect((await provider.verifyAccessToken(bearer(tokens.access_token))).ok).toBe(false);
    const refresh = await provider.token(form({ grant_type: 'refresh_token', refresh_token: String(tokens.refresh_token) }, asClient));
    expect(body(refresh).error).toBe('invalid_grant');
  });

  it('a wrong PKCE verifier fails and burns the code', async () => {
    const { code, verifier } = await authorizationCode();
    const wrong = await exchange(code, pkcePair().verifier);
    expect(body(wrong).error).toBe('invalid_grant');
    const right = await exchange(code, verifier);
    expect(body(right).error).toBe('invalid_grant');
  });

  it('refresh_token rotates, and replaying a rotated token revokes the family', async () => {
    const { code, verifier } = await authorizationCode();
    const first = body(await exchange(code, verifier));
    const rotated = await provider.token(form({ grant_type: 'refresh_token', refresh_token: String(first.refresh_token) }, asClient));
    expect(rotated.status, rotated.body).toBe(200);
    const second = body(rotated);
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect((await provider.verifyAccessToken(bearer(second.access_token), ['read'])).ok).toBe(true);

    const replay = await provider.token(form({ grant_type: 'refresh_token', refresh_token: String(first.refresh_token) }, asClient));
    expect(replay.status).toBe(400);
    expect(body(replay).error).toBe('invalid_grant');
    expect((await provider.verifyAccessToken(bearer(second.access_token))).ok).toBe(false);
    const after = await provider.token(form({ grant_type: 'refresh_token', refresh_token: String(second.refresh_token) }, asClient));
    expect(body(after).error).toBe('invalid_grant');
  });

  it('client_credentials issues a token without a user, which introspection and revocation see', async () => {
    const res = await provider.token(form({ grant_type: 'client_credentials', scope: 'read' }, asClient));
    expect(res.status, res.body).toBe(200);
    const { access_token } = body(res);
    expect(body(res).refresh_token).toBeUndefined();
    const verified = await provider.verifyAccessToken(bearer(access_token), ['read']);
    expect(verified.ok && verified.token.userId).toBeNull();
    const introspect = (token: unknown) => provider.introspect({ ...form({ token: String(token) }, asClient), url: '/oauth/introspect' });
    expect(body(await introspect(access_token))).toMatchObject({ active: true, client_id: 'c1', scope: 'read' });
    const revoked = await provider.revoke({ ...form({ token: String(access_token) }, asClient), url: '/oauth/revoke' });
    expect(revoked.status).toBe(200);
    expect(body(await introspect(access_token))).toEqual({ active: false });
  });

  it("introspection: a resource server sees another client's token, a plain client does not", async () => {
    const { code, verifier } = await authorizationCode();
    const t = body(await exchange(code, verifier));
    const ask = (clientId: string, token: unknown) =>
      provider.introspect({ ...form({ token: String(token) }, { authorization: basicAuth(clientId, SECRET) }), url: '/oauth/introspect' });
    for (const token of [t.access_token, t.refresh_token]) {
      const byRs = await ask('rs', token);
      expect(byRs.status).toBe(200);
      expect(body(byRs)).toMatchObject({ active: true, client_id: 'c1', sub: 'u1', scope: 'read write' });
      const byPlain = await ask('plain', token);
      expect(byPlain.status).toBe(200);
      expect(byPlain.body).toBe('{"active":false}');
      expect(body(await ask('c1', token)), 'the owner sees its own token').toMatchObject({ active: true, client_id: 'c1' });
    }
  });

  it('password checks the user from the user collection', async () => {
    const res = await provider.token(
      form({ grant_type: 'password', username: 'alice', password: 'correct horse', scope: 'read' }, asClient),
    );
    expect(res.status, res.body).toBe(200);
    const verified = await provider.verifyAccessToken(bearer(body(res).access_token), ['read']);
    expect(verified.ok && verified.token.userId).toBe('u1');
    const wrong = await provider.token(form({ grant_type: 'password', username: 'alice', password: 'wrong', scope: 'read' }, asClient));
    expect(body(wrong).error).toBe('invalid_grant');
    const unknown = await provider.token(form({ grant_type: 'password', username: 'bob', password: 'x', scope: 'read' }, asClient));
    expect(body(unknown).error).toBe('invalid_grant');
  });
});

describe('hostile requests get OAuth errors, never a 500', () => {
  const OPERATOR_STRINGS = ['{"$gt": ""}', '{"$ne": null}', '$where', '[$gt]'];
  const expectOAuthError = (res: OAuthResponse, allowed: string[]) => {
    expect(res.status, res.body).toBeGreaterThanOrEqual(400);
    expect(res.status, res.body).toBeLessThan(500);
    expect(allowed).toContain(body(res).error);
  };

  it('operators as framework-parsed values are refused before any store sees them', async () => {
    const parsed = (parsedBody: Record<string, unknown>, headers: Record<string, string> = asClient): OAuthRequest => ({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      parsedBody,
    });
    const op = { $gt: '' };
    for (const req of [
      parsed({ grant_type: 'authorization_code', code: op, redirect_uri: CB, code_verifier: 'v'.repeat(43) }),
      parsed({ grant_type: 'refresh_token', refresh_token: op }),
      parsed({ grant_type: 'password', username: { $ne: null }, password: 'x' }),
      parsed({ grant_type: 'client_credentials', client_id: op, client_secret: SECRET }, {}),
    ]) {
      expectOAuthError(await provider.token(req), ['invalid_request', 'invalid_client']);
    }
  });

  it('operator-looking strings as ids, codes, usernames and tokens match nothing', async () => {
    for (const s of OPERATOR_STRINGS) {
      expectOAuthError(await provider.token(form({ grant_type: 'client_credentials' }, { authorization: basicAuth(s, SECRET) })), [
        'invalid_client',
      ]);
      expectOAuthError(await provider.token(form({ grant_type: 'client_credentials', client_id: s, client_secret: SECRET })), [
        'invalid_client',
      ]);
      expectOAuthError(
        await provider.token(
          form({ grant_type: 'authorization_code', code: s, redirect_uri: CB, code_verifier: 'v'.repeat(43) }, asClient),
        ),
        ['invalid_grant'],
      );
      expectOAuthError(await provider.token(form({ grant_type: 'refresh_token', refresh_token: s }, asClient)), ['invalid_grant']);
      expectOAuthError(await provider.token(form({ grant_type: 'password', username: s, password: s }, asClient)), ['invalid_grant']);
      const resource = await provider.verifyAccessToken(bearer(s));
      expect(resource.ok).toBe(false);
      if (!resource.ok) expect([400, 401]).toContain(resource.response.status);
      const a = await provider.authorize({
        method: 'GET',
        url: `/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: s, redirect_uri: CB })}`,
        headers: {},
      });
      expect(a.type).toBe('response');
      if (a.type === 'response') expect(a.response.status).toBeLessThan(500);
    }
    // Bracket-style keys a naive parser would turn into operators are just unknown parameters.
    const bracket = await provider.token({
      ...form({}),
      body: 'grant_type=password&username[$ne]=x&password[$ne]=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...asClient },
    });
    expectOAuthError(bracket, ['invalid_request', 'invalid_grant']);
  });

  it('huge and non-ASCII values give OAuth errors', async () => {
    const huge = `${'é'.repeat(8192)}🔑`;
    expectOAuthError(await provider.token(form({ grant_type: 'client_credentials' }, { authorization: basicAuth(huge, SECRET) })), [
      'invalid_client',
      'invalid_request',
    ]);
    expectOAuthError(await provider.token(form({ grant_type: 'refresh_token', refresh_token: huge }, asClient)), [
      'invalid_grant',
      'invalid_request',
    ]);
    expectOAuthError(await provider.token(form({ grant_type: 'password', username: huge, password: huge }, asClient)), [
      'invalid_grant',
      'invalid_request',
    ]);
    expectOAuthError(
      await provider.token(
        form({ grant_type: 'authorization_code', code: huge, redirect_uri: CB, code_verifier: 'v'.repeat(43) }, asClient),
      ),
      ['invalid_grant', 'invalid_request'],
    );
  });
});
