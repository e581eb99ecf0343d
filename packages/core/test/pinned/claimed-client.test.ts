/**
 * The client id a request claims, as hooks see it before and after the endpoint ran: from the Basic
 * user name, a form body, or the query string, and what a failed client authentication reports.
 */
import { describe, expect, it } from 'vitest';
import type { HookContext, HookOutcome, OAuthRequest } from '../../src/index.js';
import { basic, form, makeProvider } from '../helpers.js';

function recording() {
  const claimed: (string | null)[] = [];
  const outcomes: HookOutcome[] = [];
  const { provider } = makeProvider({
    hooks: {
      beforeRequest: (ctx: HookContext) => {
        claimed.push(ctx.claimedClientId());
        return undefined;
      },
      afterRequest: (_ctx, outcome) => {
        outcomes.push(outcome);
        return undefined;
      },
    },
  });
  return { provider, claimed, outcomes };
}

describe('claimedClientId in beforeRequest', () => {
  const cases: [string, OAuthRequest, string | null][] = [
    ['the Basic user name', form({ grant_type: 'client_credentials' }, { authorization: basic('b-id', 'whatever') }), 'b-id'],
    ['the form body', form({ grant_type: 'client_credentials', client_id: 'f-id' }), 'f-id'],
    ['the query of a form POST without client_id in the body', form({ grant_type: 'x' }, {}, '/oauth/token?client_id=q-id'), 'q-id'],
    ['the query of a GET', { method: 'GET', url: '/oauth/token?client_id=g-id', headers: {} }, 'g-id'],
    [
      'not the form body of a GET',
      { method: 'GET', url: '/oauth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'client_id=no' },
      null,
    ],
    [
      'not a body that is not a form',
      { method: 'POST', url: '/oauth/token', headers: { 'content-type': 'text/plain' }, body: 'client_id=no' },
      null,
    ],
    ['nothing in a query without client_id', { method: 'GET', url: '/oauth/token?x=client', headers: {} }, null],
    ['nothing from a query that repeats client_id', { method: 'GET', url: '/oauth/token?client_id=a&client_id=b', headers: {} }, null],
    ['nothing from a request that names none', { method: 'GET', url: '/oauth/token', headers: {} }, null],
  ];
  for (const [what, req, want] of cases) {
    it(what, async () => {
      const { provider, claimed } = recording();
      await provider.token(req);
      expect(claimed).toEqual([want]);
    });
  }
});

describe('the outcome of a failed client authentication', () => {
  it('reports the claimed client and grant type', async () => {
    const { provider, outcomes } = recording();
    await provider.token(form({ grant_type: 'client_credentials' }, { authorization: basic('who', 'wrong-secret') }));
    await provider.token(form({ grant_type: 'password', client_id: 'nobody', client_secret: 'x' }));
    await provider.token(form({ client_id: 'conf' }));
    expect(outcomes.map((o) => [o.valid, o.error, o.clientId, o.grantType])).toEqual([
      [false, 'invalid_client', 'who', 'client_credentials'],
      [false, 'invalid_client', 'nobody', 'password'],
      [false, 'invalid_client', 'conf', null],
    ]);
  });
});
