/** What hooks are told and what they may throw, and wiring mistakes caught early. */
import { describe, expect, it } from 'vitest';
import {
  AccessDeniedError,
  ConfigurationError,
  createMemoryStores,
  errorResponse,
  type HookContext,
  type HookOutcome,
  InvalidRequestError,
  OAuth2Provider,
} from '../src/index.js';
import { basic, form, json, SECRET, setup, userTokens } from './security/fixture.js';

describe('hook context and outcome', () => {
  it('beforeRequest sees the claimed client id without parsing the request itself; afterRequest the user id', async () => {
    const seen: { endpoint: string; claimed: string | null }[] = [];
    const outcomes: HookOutcome[] = [];
    const { provider } = setup({
      hooks: {
        beforeRequest: (ctx: HookContext) => {
          seen.push({ endpoint: ctx.endpoint, claimed: ctx.claimedClientId() });
          return undefined;
        },
        afterRequest: (_ctx, outcome) => {
          outcomes.push(outcome);
          return undefined;
        },
      },
    });
    const t = await userTokens(provider);
    await provider.token(form({ grant_type: 'client_credentials', client_id: 'post-only', client_secret: SECRET }));
    await provider.verifyAccessToken({ method: 'GET', url: '/api', headers: { authorization: `Bearer ${t.access_token}` } });
    expect(seen).toEqual([
      { endpoint: 'authorize', claimed: 'app' },
      { endpoint: 'authorize_decision', claimed: null },
      { endpoint: 'token', claimed: 'app' },
      { endpoint: 'token', claimed: 'post-only' },
      { endpoint: 'resource', claimed: null },
    ]);
    expect(outcomes.map((o) => [o.clientId, o.userId])).toEqual([
      ['app', null], // consent to show: nobody decided yet
      ['app', 'u1'], // the decision
      ['app', 'u1'], // the code exchange
      ['post-only', null], // client_credentials
      ['app', 'u1'], // the resource check
    ]);
  });

  it('an OAuthError thrown by a hook is answered as that error; anything else is a logged 500', async () => {
    const errors: string[] = [];
    const { provider } = setup({
      logger: { warn: () => undefined, error: (m) => errors.push(m) },
      hooks: {
        beforeRequest: (ctx) => {
          if (ctx.claimedClientId() === 'peer') throw new AccessDeniedError('This client is suspended');
          if (ctx.claimedClientId() === 'rs') throw new Error('hook bug');
          return undefined;
        },
      },
    });
    const denied = await provider.token(form({ grant_type: 'client_credentials' }, { authorization: basic('peer', SECRET) }));
    expect(denied.status).toBe(403);
    expect(json(denied)).toEqual({ error: 'access_denied', error_description: 'This client is suspended' });
    const broken = await provider.token(form({ grant_type: 'client_credentials' }, { authorization: basic('rs', SECRET) }));
    expect(broken.status).toBe(500);
    expect(json(broken).error).toBe('server_error');
    expect(errors).toEqual(['beforeRequest hook failed at token']);
    expect((await provider.token(form({ grant_type: 'client_credentials' }, { authorization: basic('app', SECRET) }))).status).toBe(200);
  });

  it('errorResponse builds the RFC 6749 5.2 answer a hook returns', () => {
    const r = errorResponse(new InvalidRequestError('Too "many" requests'));
    expect(r.status).toBe(400);
    expect(r.headers['Cache-Control']).toBe('no-store');
    expect(JSON.parse(r.body)).toEqual({ error: 'invalid_request', error_description: "Too 'many' requests" });
  });
});

describe('wiring mistakes', () => {
  it('an approval that names no user, without currentUser, is a ConfigurationError', async () => {
    const { provider } = setup();
    const q = new URLSearchParams({
      response_type: 'code',
      client_id: 'app',
      scope: 'read',
      code_challenge: 'x'.repeat(43),
      code_challenge_method: 'S256',
    });
    const a = await provider.authorize({ method: 'GET', url: `/oauth/authorize?${q}`, headers: {} });
    expect(a.type).toBe('consent');
    if (a.type !== 'consent') return;
    await expect(provider.completeAuthorization(a.request, { approved: true })).rejects.toThrow(ConfigurationError);
    await expect(provider.completeAuthorization(a.request, { approved: true })).rejects.toThrow(/setCurrentUser/);
    // A refusal needs no user.
    expect((await provider.completeAuthorization(a.request, { approved: false })).status).toBe(302);
  });

  it('a grant getter registered beside a binding grant setter is reported by validate()', () => {
    const warnings: string[] = [];
    const provider = new OAuth2Provider({
      issuer: 'https://auth.example',
      logger: { warn: (m) => warnings.push(m), error: () => undefined },
    });
    provider.useStores(createMemoryStores());
    provider.validate();
    expect(warnings).toEqual([]);
    provider.grantGetter(async () => null);
    provider.validate();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/grants\.saveGrant comes from a binding but grants\.consumeGrant from an explicit registration/);
    provider.grantSetter(async () => undefined);
    provider.validate();
    expect(warnings).toHaveLength(1);
  });
});
