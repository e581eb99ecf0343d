import { describe, expect, it } from 'vitest';
import type { EndpointName, HookContext, HookOutcome, OAuthResponse } from '../src/index.js';
import { StoreUnavailableError } from '../src/index.js';
import { authorizeUrl, basic, body, CB, exchange, form, get, getCode, makeProvider, pkce, SECRET } from './helpers.js';

const auth = { authorization: basic('conf', SECRET) };
const deny = (status: number): OAuthResponse => ({ status, headers: { 'Content-Type': 'application/json' }, body: '{"error":"denied"}' });

describe('hooks', () => {
  it('run on every endpoint, with the endpoint name, including resource checks', async () => {
    const seen: EndpointName[] = [];
    const after: [EndpointName, boolean][] = [];
    const { provider } = makeProvider({
      hooks: {
        beforeRequest: (ctx) => void seen.push(ctx.endpoint),
        afterRequest: (ctx, o) => void after.push([ctx.endpoint, o.valid]),
      },
    });
    const { code, verifier } = await getCode(provider);
    const t = body(await exchange(provider, code, verifier)) as Record<string, string>;
    await provider.verifyAccessToken(get('/api', { authorization: `Bearer ${t.access_token}` }));
    await provider.verifyAccessToken(get('/api'));
    await provider.introspect(form({ token: t.access_token! }, auth, '/oauth/introspect'));
    await provider.revoke(form({ token: t.access_token! }, auth, '/oauth/revoke'));
    await provider.metadata();
    expect(seen).toEqual(['authorize', 'authorize_decision', 'token', 'resource', 'resource', 'introspection', 'revocation', 'metadata']);
    expect(after).toEqual([
      ['authorize', true],
      ['authorize_decision', true],
      ['token', true],
      ['resource', true],
      ['resource', false],
      ['introspection', true],
      ['revocation', true],
      ['metadata', true],
    ]);
  });

  it('beforeRequest may answer early (429), and nothing else runs', async () => {
    const { provider } = makeProvider();
    let calls = 0;
    provider.beforeRequest((ctx) => (ctx.endpoint === 'token' ? deny(429) : undefined));
    provider.afterRequest(() => void calls++);
    const r = await provider.token(form({ grant_type: 'client_credentials' }, auth));
    expect(r.status).toBe(429);
    expect(calls).toBe(0);
    const res = await provider.verifyAccessToken(get('/api'));
    expect(!res.ok && res.response.status).toBe(401);
  });

  it('afterRequest sees the outcome: error code, client, grant type, scopes', async () => {
    const outcomes: HookOutcome[] = [];
    const { provider } = makeProvider({ hooks: { afterRequest: (_c, o) => void outcomes.push(o) } });
    await provider.token(form({ grant_type: 'client_credentials', scope: 'read' }, auth));
    await provider.token(form({ grant_type: 'client_credentials' }, { authorization: basic('conf', 'bad') }));
    expect(outcomes[0]).toMatchObject({ valid: true, error: null, clientId: 'conf', grantType: 'client_credentials', scopes: ['read'] });
    expect(outcomes[1]).toMatchObject({ valid: false, error: 'invalid_client', clientId: 'conf' });
  });

  it('afterRequest may veto a valid request; the tokens it issued are revoked', async () => {
    const { provider } = makeProvider();
    let issued: string | undefined;
    provider.afterRequest((ctx: HookContext, o) => {
      if (ctx.endpoint === 'token' && o.valid) {
        issued = JSON.parse(o.response!.body).access_token;
        return deny(403);
      }
      return undefined;
    });
    const r = await provider.token(form({ grant_type: 'client_credentials' }, auth));
    expect(r.status).toBe(403);
    expect(issued).toBeDefined();
    expect((await provider.verifyAccessToken(get('/api', { authorization: `Bearer ${issued}` }))).ok).toBe(false);
  });

  it('afterRequest can veto a valid resource check and consent', async () => {
    const { provider } = makeProvider();
    const t = body(await provider.token(form({ grant_type: 'client_credentials' }, auth)));
    provider.afterRequest((ctx) => (ctx.endpoint === 'resource' || ctx.endpoint === 'authorize' ? deny(403) : undefined));
    const r = await provider.verifyAccessToken(get('/api', { authorization: `Bearer ${t.access_token}` }));
    expect(r.ok).toBe(false);
    expect(!r.ok && r.response.status).toBe(403);
    const a = await provider.authorize(
      get(
        authorizeUrl({
          response_type: 'code',
          client_id: 'conf',
          redirect_uri: CB,
          code_challenge: pkce().challenge,
          code_challenge_method: 'S256',
        }),
      ),
    );
    expect(a.type === 'response' && a.response.status).toBe(403);
  });

  it('afterRequest cannot turn an invalid request into a valid one', async () => {
    const { provider } = makeProvider();
    const ok: OAuthResponse = { status: 200, headers: {}, body: '{"access_token":"forged"}' };
    provider.afterRequest(() => ok);
    const r = await provider.token(form({ grant_type: 'client_credentials' }, { authorization: basic('conf', 'bad') }));
    expect(r.status).toBe(401);
    const res = await provider.verifyAccessToken(get('/api', { authorization: 'Bearer forged' }));
    expect(res.ok).toBe(false);
    expect(!res.ok && res.response.status).toBe(401);
    // ...but it may replace one error by another.
    provider.afterRequest((_c, o) => (o.valid ? undefined : deny(429)));
    expect((await provider.token(form({ grant_type: 'client_credentials' }, { authorization: basic('conf', 'bad') }))).status).toBe(429);
  });

  it('a throwing hook is a server_error, not a crash, and leaks nothing', async () => {
    const { provider } = makeProvider({ logger: { warn() {}, error() {} } });
    provider.beforeRequest(() => {
      throw new Error('secret internal detail');
    });
    const r = await provider.token(form({ grant_type: 'client_credentials' }, auth));
    expect(r.status).toBe(500);
    expect(body(r).error).toBe('server_error');
    expect(r.body).not.toContain('secret internal detail');
  });

  it('a hook whose own store cannot be reached is 503 temporarily_unavailable, as a store failure is', async () => {
    const { provider } = makeProvider({ logger: { warn() {}, error() {} } });
    provider.beforeRequest(() => {
      throw new StoreUnavailableError('rate limit counters are unavailable', { cause: new Error('Socket closed unexpectedly') });
    });
    const r = await provider.token(form({ grant_type: 'client_credentials' }, auth));
    expect(r.status).toBe(503);
    expect(body(r).error).toBe('temporarily_unavailable');
    expect(r.body).not.toContain('Socket closed');
    const { provider: p2 } = makeProvider({ logger: { warn() {}, error() {} } });
    p2.afterRequest(() => {
      throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    });
    expect((await p2.token(form({ grant_type: 'client_credentials' }, auth))).status).toBe(503);
  });
});
