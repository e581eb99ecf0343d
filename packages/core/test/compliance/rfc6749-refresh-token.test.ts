/**
 * RFC 6749 section 6 (refreshing an access token) with RFC 9700 section 4.14 (rotation, replay
 * revokes the family).
 *
 * RFC 6749 section 6: refresh_token "REQUIRED. The refresh token issued to the client."
 * RFC 6749 section 6, scope: "The requested scope MUST NOT include any scope not originally granted
 *   by the resource owner, and if omitted is treated as equal to the scope originally granted by
 *   the resource owner."
 * RFC 6749 section 6: "the refresh token is bound to the client to which it was issued."
 * RFC 6749 section 6: "The authorization server MUST: require client authentication for
 *   confidential clients or for any client that was issued client credentials (or with other
 *   authentication requirements), authenticate the client if client authentication is included and
 *   ensure that the refresh token was issued to the authenticated client, and validate the refresh
 *   token."
 * RFC 6749 section 6: "The authorization server MAY issue a new refresh token, in which case the
 *   client MUST discard the old refresh token and replace it with the new refresh token. The
 *   authorization server MAY revoke the old refresh token after issuing a new refresh token to the
 *   client. If a new refresh token is issued, the refresh token scope MUST be identical to that of
 *   the refresh token included by the client in the request."
 * RFC 6749 section 5.2, invalid_grant: "The provided authorization grant (e.g., authorization code,
 *   resource owner credentials) or refresh token is invalid, expired, revoked, does not match the
 *   redirection URI used in the authorization request, or was issued to another client."
 */
import { describe, expect, it } from 'vitest';
import { basic, body, exchange, form, get, getCode, makeProvider, SECRET } from '../helpers.js';

const auth = { authorization: basic('conf', SECRET) };

async function tokens(provider: ReturnType<typeof makeProvider>['provider']) {
  const { code, verifier } = await getCode(provider);
  return body(await exchange(provider, code, verifier)) as { access_token: string; refresh_token: string };
}
const refresh = (
  provider: ReturnType<typeof makeProvider>['provider'],
  token: string,
  extra: Record<string, string> = {},
  headers = auth,
) => provider.token(form({ grant_type: 'refresh_token', refresh_token: token, ...extra }, headers));

describe('refresh_token grant', () => {
  it('rotates: a new refresh token each time, the old one refused afterwards', async () => {
    const { provider } = makeProvider();
    const t = await tokens(provider);
    const r1 = body(await refresh(provider, t.refresh_token));
    expect(r1.refresh_token).toBeDefined();
    expect(r1.refresh_token).not.toBe(t.refresh_token);
    expect(r1.scope).toBe('read write');
    const r2 = await refresh(provider, r1.refresh_token as string);
    expect(r2.status).toBe(200);
  });

  it('replay of a rotated token revokes the whole family', async () => {
    const { provider } = makeProvider();
    const t = await tokens(provider);
    const r1 = body(await refresh(provider, t.refresh_token));
    const replay = await refresh(provider, t.refresh_token);
    expect(body(replay).error).toBe('invalid_grant');
    // Everything of the family is dead: the newest refresh token and the access tokens.
    expect(body(await refresh(provider, r1.refresh_token as string)).error).toBe('invalid_grant');
    for (const at of [t.access_token, r1.access_token as string]) {
      expect((await provider.verifyAccessToken(get('/api', { authorization: `Bearer ${at}` }))).ok).toBe(false);
    }
  });

  it('gives one winner to concurrent rotations', async () => {
    const { provider } = makeProvider();
    const t = await tokens(provider);
    const results = await Promise.all(Array.from({ length: 20 }, () => refresh(provider, t.refresh_token)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
  });

  it('narrows scope only ("MUST NOT include any scope not originally granted")', async () => {
    const { provider } = makeProvider();
    const t = await tokens(provider);
    const wider = await refresh(provider, t.refresh_token, { scope: 'read admin' });
    expect(body(wider).error).toBe('invalid_scope');
    const t2 = await tokens(provider);
    const narrow = body(await refresh(provider, t2.refresh_token, { scope: 'read' }));
    expect(narrow.scope).toBe('read');
  });

  it('"If a new refresh token is issued, the refresh token scope MUST be identical to that of the refresh token included by the client in the request"', async () => {
    const { provider } = makeProvider();
    const t = await tokens(provider);
    const narrow = await refresh(provider, t.refresh_token, { scope: 'read' });
    expect(narrow.status).toBe(200);
    expect(body(narrow).scope).toBe('read');
    // The new refresh token carries the scope of the one sent, not the narrowed access token's.
    const next = await refresh(provider, body(narrow).refresh_token as string);
    expect(next.status).toBe(200);
    expect(body(next).scope).toBe('read write');
  });

  it('"require client authentication for confidential clients": 401 invalid_client with client_id alone', async () => {
    const { provider } = makeProvider();
    const t = await tokens(provider);
    const r = await refresh(provider, t.refresh_token, { client_id: 'conf' }, {} as typeof auth);
    expect(r.status).toBe(401);
    expect(body(r).error).toBe('invalid_client');
    expect(r.headers).toEqual({ 'Content-Type': 'application/json;charset=UTF-8', 'Cache-Control': 'no-store', Pragma: 'no-cache' });
    expect((await refresh(provider, t.refresh_token)).status).toBe(200);
  });

  it('binds the refresh token to its client', async () => {
    const { provider } = makeProvider();
    const t = await tokens(provider);
    const r = await refresh(provider, t.refresh_token, {}, { authorization: basic('other', 'other-secret') });
    expect(body(r).error).toBe('invalid_grant');
  });

  it('expires refresh tokens', async () => {
    const { provider } = makeProvider({ lifetimes: { refreshToken: 0.05 } });
    const t = await tokens(provider);
    await new Promise((r) => setTimeout(r, 80));
    expect(body(await refresh(provider, t.refresh_token)).error).toBe('invalid_grant');
  });

  it('without rotation keeps the refresh token and issues access tokens', async () => {
    const { provider } = makeProvider({ refreshTokenRotation: false });
    const t = await tokens(provider);
    const first = await refresh(provider, t.refresh_token);
    const second = await refresh(provider, t.refresh_token);
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    const a = body(first);
    const b = body(second);
    expect(a).toMatchObject({ token_type: 'Bearer', scope: 'read write' });
    expect(a.refresh_token).toBeUndefined();
    expect(typeof b.access_token).toBe('string');
    expect(b.access_token).not.toBe(a.access_token);
    expect((await provider.verifyAccessToken(get('/api', { authorization: `Bearer ${b.access_token}` }), ['read'])).ok).toBe(true);
  });

  it('requires refresh_token and refuses unknown ones', async () => {
    const { provider } = makeProvider();
    expect(body(await provider.token(form({ grant_type: 'refresh_token' }, auth))).error).toBe('invalid_request');
    expect(body(await refresh(provider, 'nope')).error).toBe('invalid_grant');
  });
});
