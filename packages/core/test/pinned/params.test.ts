/**
 * Request parameters as core reads them: a body a framework parsed (empty values are absent,
 * repeats and non-strings refused), the raw form syntax, the query string up to a fragment, and
 * scope syntax (RFC 6749 3.3).
 */
import { describe, expect, it } from 'vitest';
import type { OAuthRequest, OAuthResponse } from '../../src/index.js';
import { basic, body, form, get, makeProvider, SECRET } from '../helpers.js';

const auth = { authorization: basic('conf', SECRET) };
const parsed = (parsedBody: Record<string, unknown> | undefined): OAuthRequest => ({
  method: 'POST',
  url: '/oauth/token',
  headers: { 'content-type': 'application/x-www-form-urlencoded', ...auth },
  parsedBody,
});
const raw = (text: string): OAuthRequest => ({
  method: 'POST',
  url: '/oauth/token',
  headers: { 'content-type': 'application/x-www-form-urlencoded', ...auth },
  body: text,
});
function expectAnswer(r: OAuthResponse, status: number, error?: string, description?: string | RegExp): void {
  expect(r.status, r.body).toBe(status);
  if (error !== undefined) expect(body(r).error).toBe(error);
  if (typeof description === 'string') expect(body(r).error_description).toBe(description);
  else if (description) expect(String(body(r).error_description)).toMatch(description);
}

describe('a body a framework parsed', () => {
  it('with no body at all is an empty form', async () => {
    const { provider } = makeProvider();
    expectAnswer(await provider.token(parsed(undefined)), 400, 'invalid_request', 'grant_type is required');
  });
  it('leaves out a parameter sent without a value, alone or in a list', async () => {
    const { provider } = makeProvider();
    // An empty client_id would otherwise disagree with the Basic credentials.
    expectAnswer(await provider.token(parsed({ grant_type: 'client_credentials', client_id: '' })), 200);
    const listed = await provider.token(parsed({ grant_type: ['client_credentials', ''], scope: ['', 'write'], client_id: [''] }));
    expectAnswer(listed, 200);
    expect(body(listed).scope).toBe('write');
  });
  it('refuses a repeated parameter and a value that is not a string', async () => {
    const { provider } = makeProvider();
    expectAnswer(
      await provider.token(parsed({ grant_type: 'client_credentials', scope: ['read', 'write'] })),
      400,
      'invalid_request',
      /^Parameter .scope. was given more than once$/,
    );
    expectAnswer(
      await provider.token(parsed({ grant_type: 'client_credentials', scope: [7] })),
      400,
      'invalid_request',
      /^Parameter .scope. was given more than once$/,
    );
    expectAnswer(
      await provider.token(parsed({ grant_type: 'client_credentials', scope: { a: 1 } })),
      400,
      'invalid_request',
      /^Parameter .scope. is malformed$/,
    );
  });
});

describe('raw form syntax', () => {
  it('skips empty pairs, takes a name without = as empty, and decodes + and %', async () => {
    const { provider } = makeProvider();
    const r = await provider.token(raw('&&grant_type=client_credentials&&scope=read+write&flag&x=%41%zz'));
    expectAnswer(r, 200);
    expect(body(r).scope).toBe('read write');
  });
  it('keeps = inside a value', async () => {
    const { provider } = makeProvider();
    const r = await provider.token(raw('grant_type=client_credentials&scope=read&state=a=b'));
    expectAnswer(r, 200);
  });
});

describe('the query string', () => {
  it('ends at a fragment', async () => {
    const { provider } = makeProvider({ allowBearerInQuery: true });
    const t = body(await provider.token(form({ grant_type: 'client_credentials' }, auth))).access_token as string;
    expect((await provider.verifyAccessToken(get(`/api?access_token=${t}#frag`))).ok).toBe(true);
    expect((await provider.verifyAccessToken(get(`/api?x=1#access_token=${t}`))).ok).toBe(false);
  });
  it('is not part of the path handle() routes on', async () => {
    const { provider } = makeProvider();
    const r = await provider.handle({ method: 'GET', url: '/.well-known/oauth-authorization-server?x=1', headers: {} });
    expect(r?.status).toBe(200);
  });
});

describe('scope syntax (RFC 6749 3.3)', () => {
  it('takes one token or several separated by single spaces; refuses empty tokens and forbidden characters', async () => {
    const { provider } = makeProvider();
    const cc = (scope: string) => provider.token(form({ grant_type: 'client_credentials', scope }, auth));
    expect(body(await cc('read')).scope).toBe('read');
    expect(body(await cc('read write read')).scope).toBe('read write');
    expect(body(await cc('')).scope).toBe('read');
    for (const bad of ['read  write', ' read', 'read ', 'read\\', 're"ad', 'read write"', 'r\u00e9ad', 'read w\u00e9']) {
      expectAnswer(await cc(bad), 400, 'invalid_scope', 'The scope parameter is malformed');
    }
  });
});
