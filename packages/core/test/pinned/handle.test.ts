/**
 * `provider.handle()` and the endpoint methods it routes to hand back their endpoint's promise
 * without an `async` layer of their own (fewer ticks per request on the token endpoint's hot
 * path). What callers rely on stays: a promise every time, never a synchronous throw.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryStores, OAuth2Provider, type OAuthRequest } from '../../src/index.js';
import { basic, makeProvider, SECRET } from '../helpers.js';

const FORM = 'application/x-www-form-urlencoded';

describe('provider.handle', () => {
  it('answers a routed endpoint, and null for other paths, always as a promise', async () => {
    const { provider } = makeProvider();
    const token = provider.handle({
      method: 'POST',
      url: '/oauth/token?x=1',
      headers: { 'content-type': FORM, authorization: basic('conf', SECRET) },
      body: 'grant_type=client_credentials&scope=read',
    });
    expect(token).toBeInstanceOf(Promise);
    expect((await token)?.status).toBe(200);
    const other = provider.handle({ method: 'GET', url: '/elsewhere', headers: {} });
    expect(other).toBeInstanceOf(Promise);
    expect(await other).toBeNull();
  });

  it('turns a request it cannot route (no URL) into a rejected promise, never a synchronous throw', async () => {
    const { provider } = makeProvider();
    let call: Promise<unknown> | undefined;
    expect(() => {
      call = provider.handle({ method: 'GET', headers: {} } as unknown as OAuthRequest);
    }).not.toThrow();
    await expect(call).rejects.toBeInstanceOf(TypeError);
  });

  it('token, revoke and introspect give promises that settle with an answer, also for hostile input', async () => {
    const { provider } = makeProvider();
    const hostile: OAuthRequest = { method: 'POST', url: '/oauth/token', headers: { 'content-type': FORM }, body: 'grant_type=%ZZ&&=' };
    for (const call of [provider.token(hostile), provider.revoke(hostile), provider.introspect(hostile)]) {
      expect(call).toBeInstanceOf(Promise);
      const r = await call;
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
    }
  });
});

describe('the endpoint run (no hooks, no telemetry recording)', () => {
  it('a provider whose wiring fails validation answers 500 server_error as a promise, never a synchronous throw', async () => {
    const logged: string[] = [];
    const logger = { debug() {}, info() {}, warn() {}, error: (m: string) => void logged.push(m) };
    const provider = new OAuth2Provider({ issuer: 'https://issuer.example', logger });
    const req: OAuthRequest = {
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': FORM, authorization: basic('conf', SECRET) },
      body: 'grant_type=client_credentials',
    };
    let call: Promise<{ status: number; body: string }> | undefined;
    expect(() => {
      call = provider.token(req);
    }).not.toThrow();
    const r = await call!;
    expect(r.status).toBe(500);
    expect(JSON.parse(r.body).error).toBe('server_error');
    expect(logged).toEqual(['token: server_error']);
  });

  it('an endpoint that rejects is answered from the failure, with the cause logged and not shown', async () => {
    const logged: string[] = [];
    const logger = { debug() {}, info() {}, warn() {}, error: (m: string) => void logged.push(m) };
    const failing = {
      async getClient(): Promise<null> {
        throw new Error('db password=hunter2 unreachable');
      },
    };
    const provider = new OAuth2Provider({
      issuer: 'https://issuer.example',
      logger,
      stores: { ...createMemoryStores(), clients: failing },
    });
    const r = await provider.token({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': FORM, authorization: basic('conf', SECRET) },
      body: 'grant_type=client_credentials',
    });
    expect(r.status).toBe(500);
    expect(r.body).not.toContain('hunter2');
    expect(logged).toEqual(['token: server_error']);
  });
});
