/**
 * `provider.handle()` and the endpoint methods it routes to hand back their endpoint's promise
 * without an `async` layer of their own (fewer ticks per request on the token endpoint's hot
 * path). What callers rely on stays: a promise every time, never a synchronous throw.
 */
import { describe, expect, it } from 'vitest';
import type { OAuthRequest } from '../../src/index.js';
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
