/**
 * RFC 7009 (token revocation).
 *
 * RFC 7009 section 2: "Implementations MUST support the revocation of refresh tokens and SHOULD
 *   support the revocation of access tokens (see Implementation Note)."
 * RFC 7009 section 2: "The client requests the revocation of a particular token by making an HTTP
 *   POST request to the token revocation endpoint URL."
 * RFC 7009 section 2.1: token "REQUIRED. The token that the client wants to get revoked."
 * RFC 7009 section 2.1, token_type_hint: "If the server is unable to locate the token using the
 *   given hint, it MUST extend its search across all of its supported token types. An
 *   authorization server MAY ignore this parameter, particularly if it is able to detect the token
 *   type automatically."
 * RFC 7009 section 2.1: "The client also includes its authentication credentials as described in
 *   Section 2.3. of [RFC6749]."
 * RFC 7009 section 2.1: "The authorization server first validates the client credentials (in case
 *   of a confidential client) and then verifies whether the token was issued to the client making
 *   the revocation request. If this validation fails, the request is refused and the client is
 *   informed of the error by the authorization server as described below."
 * RFC 7009 section 2.1: "If the particular token is a refresh token and the authorization server
 *   supports the revocation of access tokens, then the authorization server SHOULD also invalidate
 *   all access tokens based on the same authorization grant (see Implementation Note)."
 * RFC 7009 section 2.2: "The authorization server responds with HTTP status code 200 if the token
 *   has been revoked successfully or if the client submitted an invalid token."
 * RFC 7009 section 2.2: "Note: invalid tokens do not cause an error response since the client
 *   cannot handle such an error in a reasonable way."
 * RFC 7009 section 2.2: "An invalid token type hint value is ignored by the authorization server and
 *   does not influence the revocation response."
 * RFC 7009 section 2.2.1: "The error presentation conforms to the definition in Section 5.2 of
 *   [RFC6749]."
 */
import { describe, expect, it } from 'vitest';
import { basic, body, exchange, form, get, getCode, makeProvider, publicClient, SECRET } from '../helpers.js';

const conf = { authorization: basic('conf', SECRET) };
const revoke = (p: ReturnType<typeof makeProvider>['provider'], params: Record<string, string>, headers: Record<string, string> = conf) =>
  p.revoke(form(params, headers, '/oauth/revoke'));

async function tokens(p: ReturnType<typeof makeProvider>['provider']) {
  const { code, verifier } = await getCode(p);
  return body(await exchange(p, code, verifier)) as { access_token: string; refresh_token: string };
}
const active = async (p: ReturnType<typeof makeProvider>['provider'], at: string) =>
  (await p.verifyAccessToken(get('/api', { authorization: `Bearer ${at}` }))).ok;

describe('revocation', () => {
  it('revokes an access token', async () => {
    const { provider } = makeProvider();
    const t = await tokens(provider);
    const r = await revoke(provider, { token: t.access_token, token_type_hint: 'access_token' });
    expect(r.status).toBe(200);
    expect(await active(provider, t.access_token)).toBe(false);
  });

  it('"If the particular token is a refresh token ... the authorization server SHOULD also invalidate all access tokens based on the same authorization grant"', async () => {
    const { provider } = makeProvider();
    const t = await tokens(provider);
    expect((await revoke(provider, { token: t.refresh_token })).status).toBe(200);
    expect(await active(provider, t.access_token)).toBe(false);
    const again = await provider.token(form({ grant_type: 'refresh_token', refresh_token: t.refresh_token }, conf));
    expect(body(again).error).toBe('invalid_grant');
  });

  it('"invalid tokens do not cause an error response": 200 for unknown tokens', async () => {
    const { provider } = makeProvider();
    expect((await revoke(provider, { token: 'never-issued' })).status).toBe(200);
  });

  it('ignores an unknown token_type_hint ("An invalid token type hint value is ignored by the authorization server and does not influence the revocation response")', async () => {
    const { provider } = makeProvider();
    const t = await tokens(provider);
    expect((await revoke(provider, { token: t.access_token, token_type_hint: 'weird_kind' })).status).toBe(200);
    expect(await active(provider, t.access_token)).toBe(false);
  });

  it('"If the server is unable to locate the token using the given hint, it MUST extend its search across all of its supported token types"', async () => {
    const { provider } = makeProvider();
    const t = await tokens(provider);
    const r = await revoke(provider, { token: t.access_token, token_type_hint: 'refresh_token' });
    expect(r.status).toBe(200);
    expect(await active(provider, t.access_token)).toBe(false);
    const t2 = await tokens(provider);
    expect((await revoke(provider, { token: t2.refresh_token, token_type_hint: 'access_token' })).status).toBe(200);
    const again = await provider.token(form({ grant_type: 'refresh_token', refresh_token: t2.refresh_token }, conf));
    expect(again.status).toBe(400);
    expect(body(again).error).toBe('invalid_grant');
  });

  it('lets a client revoke only its own tokens', async () => {
    const { provider } = makeProvider();
    const t = await tokens(provider);
    const r = await revoke(provider, { token: t.access_token }, { authorization: basic('other', 'other-secret') });
    expect(r.status).toBe(200);
    expect(await active(provider, t.access_token)).toBe(true);
    const r2 = await revoke(provider, { token: t.refresh_token }, { authorization: basic('other', 'other-secret') });
    expect(r2.status).toBe(200);
    expect(await active(provider, t.access_token)).toBe(true);
  });

  it('authenticates the client', async () => {
    const { provider } = makeProvider();
    const t = await tokens(provider);
    for (const headers of [{ authorization: basic('conf', 'wrong') }, {}] as Record<string, string>[]) {
      const r = await revoke(provider, { token: t.access_token }, headers);
      expect(r.status).toBe(401);
      expect(body(r).error).toBe('invalid_client');
    }
    expect(await active(provider, t.access_token)).toBe(true);
  });

  it('lets a public client revoke its own tokens with client_id', async () => {
    const { provider } = makeProvider();
    const { code, verifier } = await getCode(provider, { client: publicClient, scope: 'read' });
    const t = body(
      await provider.token(
        form({
          grant_type: 'authorization_code',
          code,
          code_verifier: verifier,
          client_id: 'pub',
          redirect_uri: publicClient.redirectUris[0]!,
        }),
      ),
    );
    expect((await revoke(provider, { token: t.access_token as string, client_id: 'pub' }, {})).status).toBe(200);
    expect(await active(provider, t.access_token as string)).toBe(false);
  });

  it('needs POST, a form body and the token parameter', async () => {
    const { provider } = makeProvider();
    const r = await provider.revoke({ method: 'GET', url: '/oauth/revoke?token=x', headers: {} });
    expect(r.status).toBe(405);
    expect(r.headers.Allow).toBe('POST');
    expect(body(await revoke(provider, {})).error).toBe('invalid_request');
  });
});
