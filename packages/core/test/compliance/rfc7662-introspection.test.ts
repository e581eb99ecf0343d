/** RFC 7662 (token introspection). */
import { describe, expect, it } from 'vitest';
import { basic, body, exchange, form, getCode, ISSUER, makeProvider, SECRET } from '../helpers.js';

const introspect = (
  p: ReturnType<typeof makeProvider>['provider'],
  params: Record<string, string>,
  headers: Record<string, string> = { authorization: basic('other', 'other-secret') },
) => p.introspect(form(params, headers, '/oauth/introspect'));

describe('introspection', () => {
  it('describes an active access token and refresh token', async () => {
    const { provider } = makeProvider();
    const { code, verifier } = await getCode(provider, { userId: 'u-7' });
    const t = body(await exchange(provider, code, verifier)) as Record<string, string>;
    const own = { authorization: basic('conf', SECRET) };
    const a = body(await introspect(provider, { token: t.access_token! }, own));
    expect(a).toMatchObject({ active: true, scope: 'read write', client_id: 'conf', sub: 'u-7', token_type: 'Bearer', iss: ISSUER });
    expect(a.exp).toBeGreaterThan(Date.now() / 1000);
    const r = body(await introspect(provider, { token: t.refresh_token!, token_type_hint: 'refresh_token' }, own));
    expect(r).toMatchObject({ active: true, token_type: 'refresh_token' });
  });

  it('"If the introspection call is properly authorized but the token is not active ... {"active": false}"', async () => {
    const { provider } = makeProvider({ lifetimes: { accessToken: 0.05 } });
    const t = body(await provider.token(form({ grant_type: 'client_credentials' }, { authorization: basic('conf', SECRET) })));
    await new Promise((r) => setTimeout(r, 80));
    for (const token of [t.access_token as string, 'unknown', '', 'x'.repeat(9000), '∆∆∆']) {
      const r = await introspect(provider, { token, token_type_hint: 'bogus' });
      expect(r.status).toBe(200);
      expect(body(r)).toEqual({ active: false });
    }
  });

  it('requires an authenticated confidential client', async () => {
    const { provider } = makeProvider();
    expect((await introspect(provider, { token: 'x' }, { authorization: basic('other', 'bad') })).status).toBe(401);
    expect(body(await introspect(provider, { token: 'x', client_id: 'pub' }, {})).error).toBe('invalid_client');
    expect(body(await introspect(provider, {})).error).toBe('invalid_request');
  });
});
