/**
 * RFC 7636 (PKCE) with the RFC 9700 policy: S256, required for public clients, plain only if enabled.
 *
 * RFC 7636 section 4.4.1: "If the server requires Proof Key for Code Exchange (PKCE) by OAuth public
 *   clients and the client does not send the "code_challenge" in the request, the authorization
 *   endpoint MUST return the authorization error response with the "error" value set to
 *   "invalid_request"."
 * RFC 7636 section 4.4.1: "If the server supporting PKCE does not support the requested
 *   transformation, the authorization endpoint MUST return the authorization error response with
 *   "error" value set to "invalid_request"."
 * RFC 7636 section 4.6: "If the values are not equal, an error response indicating "invalid_grant"
 *   as described in Section 5.2 of [RFC6749] MUST be returned."
 * Not quoted here (no copy of its exact text at hand): RFC 7636 section 4.2 gives the code
 * challenge the syntax of 43 to 128 unreserved characters, and section 4.3 makes
 * code_challenge_method optional, "plain" when absent.
 */
import { describe, expect, it } from 'vitest';
import { authorizeUrl, body, CB, exchange, form, get, getCode, location, makeProvider, pkce, publicClient } from '../helpers.js';

const PUB_CB = publicClient.redirectUris[0]!;

async function publicExchange(provider: ReturnType<typeof makeProvider>['provider'], code: string, verifier?: string) {
  const params: Record<string, string> = { grant_type: 'authorization_code', code, redirect_uri: PUB_CB, client_id: 'pub' };
  if (verifier !== undefined) params.code_verifier = verifier;
  return provider.token(form(params));
}

describe('PKCE', () => {
  it('requires code_challenge from public clients by default', async () => {
    const { provider } = makeProvider();
    const a = await provider.authorize(
      get(authorizeUrl({ response_type: 'code', client_id: 'pub', redirect_uri: PUB_CB, scope: 'read', state: 's' })),
    );
    expect(a.type === 'response' && location(a.response).searchParams.get('error')).toBe('invalid_request');
  });

  it('requires it from every client with required: "all", and from none with "none"', async () => {
    const all = makeProvider({ pkce: { required: 'all' } }).provider;
    await expect(getCode(all, { withPkce: false })).rejects.toThrow(/expected consent/);
    // The refusal is the PKCE one, by redirect: not any other way of not reaching consent.
    const a = await all.authorize(
      get(authorizeUrl({ response_type: 'code', client_id: 'conf', redirect_uri: CB, scope: 'read', state: 's' })),
    );
    expect(a.type).toBe('response');
    if (a.type !== 'response') return;
    const loc = location(a.response);
    expect(loc.origin + loc.pathname).toBe(CB);
    expect(loc.searchParams.get('error')).toBe('invalid_request');
    expect(loc.searchParams.get('error_description')).toBe('code_challenge is required (PKCE, S256)');
    expect(loc.searchParams.get('state')).toBe('s');
    // The same request from a confidential client reaches consent under the default policy.
    const byDefault = await makeProvider().provider.authorize(
      get(authorizeUrl({ response_type: 'code', client_id: 'conf', redirect_uri: CB, scope: 'read', state: 's' })),
    );
    expect(byDefault.type).toBe('consent');
    const none = makeProvider({ pkce: { required: 'none' } }).provider;
    const { code } = await getCode(none, { client: publicClient, scope: 'read', withPkce: false });
    expect((await publicExchange(none, code)).status).toBe(200);
  });

  it('"plain" (also the default when code_challenge_method is absent) only when enabled', async () => {
    const verifier = pkce().verifier;
    const params = { response_type: 'code', client_id: 'pub', redirect_uri: PUB_CB, scope: 'read', code_challenge: verifier };
    const strict = makeProvider().provider;
    for (const extra of [{}, { code_challenge_method: 'plain' }, { code_challenge_method: 'S512' }] as Record<string, string>[]) {
      const a = await strict.authorize(get(authorizeUrl({ ...params, ...extra })));
      expect(a.type === 'response' && location(a.response).searchParams.get('error')).toBe('invalid_request');
    }
    const lax = makeProvider({ pkce: { allowPlain: true } }).provider;
    const a = await lax.authorize(get(authorizeUrl({ ...params, code_challenge_method: 'plain' })));
    if (a.type !== 'consent') throw new Error('expected consent');
    const code = location(await lax.completeAuthorization(a.request, { approved: true, userId: 'u' })).searchParams.get('code')!;
    expect((await publicExchange(lax, code, verifier)).status).toBe(200);
    expect(lax.metadataDocument().code_challenge_methods_supported).toEqual(['S256', 'plain']);
  });

  it('refuses malformed challenges (43-128 unreserved characters)', async () => {
    const { provider } = makeProvider();
    for (const challenge of ['short', 'x'.repeat(129), `${'a'.repeat(42)}!`]) {
      const a = await provider.authorize(
        get(
          authorizeUrl({
            response_type: 'code',
            client_id: 'pub',
            redirect_uri: PUB_CB,
            code_challenge: challenge,
            code_challenge_method: 'S256',
          }),
        ),
      );
      expect(a.type === 'response' && location(a.response).searchParams.get('error')).toBe('invalid_request');
    }
  });

  it('"If the values are not equal, an error response indicating "invalid_grant" as described in Section 5.2 of [RFC6749] MUST be returned" and the code is burned', async () => {
    const { provider } = makeProvider();
    const { code, verifier } = await getCode(provider, { client: publicClient, scope: 'read' });
    const wrong = await publicExchange(provider, code, pkce().verifier);
    expect(body(wrong).error).toBe('invalid_grant');
    const right = await publicExchange(provider, code, verifier);
    expect(body(right).error).toBe('invalid_grant');
  });

  it('refuses a missing verifier, and a verifier sent for a code issued without a challenge (RFC 9700 2.1.1)', async () => {
    const { provider } = makeProvider();
    const first = await getCode(provider, { client: publicClient, scope: 'read' });
    expect(body(await publicExchange(provider, first.code)).error).toBe('invalid_grant');
    const second = await getCode(provider, { withPkce: false });
    expect(body(await exchange(provider, second.code, pkce().verifier)).error).toBe('invalid_grant');
  });

  it('lets a public client redeem with client_id only (auth method none)', async () => {
    const { provider } = makeProvider();
    const { code, verifier } = await getCode(provider, { client: publicClient, scope: 'read' });
    const r = await publicExchange(provider, code, verifier);
    expect(r.status).toBe(200);
    expect(body(r).refresh_token).toBeDefined();
  });
});
