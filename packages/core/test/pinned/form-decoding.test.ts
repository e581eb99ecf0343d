/**
 * core's form decoder against URLSearchParams, the reference it promises to match: values echoed
 * back by the authorization endpoint (`state`) for malformed escapes, invalid UTF-8, `+` and runs of
 * escapes; empty values that repeat a name; header values given as lists; content types in any case.
 */
import { describe, expect, it } from 'vitest';
import type { OAuthRequest } from '../../src/index.js';
import { basic, body, CB, get, location, makeProvider, SECRET } from '../helpers.js';

const RAW_VALUES = [
  'plain',
  'a+b+c',
  'a%2Bb',
  '%41%zz',
  '%zz%C3%A9',
  '%C3%A9%zz%41%42',
  '%E0%A4%zz',
  '%E0%A4',
  '%C3',
  '%F0%9F%98%80+%',
  '%%41',
  '100%',
  '%4',
  '+%20+',
  'x%e2%82%acy',
];

describe('values decoded as URLSearchParams decodes them', () => {
  for (const raw of RAW_VALUES) {
    it(`state=${raw}`, async () => {
      const { provider } = makeProvider();
      // No response_type: refused by redirect, with state echoed.
      const a = await provider.authorize(get(`/oauth/authorize?client_id=conf&redirect_uri=${encodeURIComponent(CB)}&state=${raw}`));
      if (a.type !== 'response') throw new Error('expected a response');
      const loc = location(a.response);
      expect(loc.searchParams.get('error')).toBe('invalid_request');
      expect(loc.searchParams.get('state')).toBe(new URLSearchParams(`state=${raw}`).get('state'));
    });
  }
});

describe('the token endpoint form', () => {
  const cc = (text: string, headers: OAuthRequest['headers'] = {}): OAuthRequest => ({
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('conf', SECRET), ...headers },
    body: text,
  });
  it('leaves out an empty value even when the name comes again with a value', async () => {
    const { provider } = makeProvider();
    const r = await provider.token(cc('grant_type=client_credentials&scope=&scope=write'));
    expect(r.status, r.body).toBe(200);
    expect(body(r).scope).toBe('write');
  });
  it('leaves out a name sent without =, wherever it stands', async () => {
    const { provider } = makeProvider();
    for (const text of [
      'grant_type=client_credentials&scopee',
      'scopee&grant_type=client_credentials',
      'grant_type=client_credentials&scope',
    ]) {
      const r = await provider.token(cc(text));
      expect(r.status, text).toBe(200);
      expect(body(r).scope, text).toBe('read');
    }
  });
  it('refuses a scope token with a forbidden character at its start', async () => {
    const { provider } = makeProvider();
    for (const scope of ['read "write', 'read \\write']) {
      const r = await provider.token(cc(`grant_type=client_credentials&scope=${encodeURIComponent(scope)}`));
      expect(r.status, scope).toBe(400);
      expect(body(r)).toEqual({ error: 'invalid_scope', error_description: 'The scope parameter is malformed' });
    }
  });
  it('decodes every + in a value', async () => {
    const { provider } = makeProvider();
    const r = await provider.token(cc('grant_type=client_credentials&scope=read+write+admin'));
    expect(r.status, r.body).toBe(200);
    expect(body(r).scope).toBe('read write admin');
  });
  it('takes header values given as lists (their first value)', async () => {
    const { provider } = makeProvider();
    const r = await provider.token(
      cc('grant_type=client_credentials', {
        'content-type': ['application/x-www-form-urlencoded', 'text/plain'],
        authorization: [basic('conf', SECRET), 'Basic eDp5'],
      }),
    );
    expect(r.status, r.body).toBe(200);
  });
  it('takes the form content type in any case, with spaces and parameters, and nothing longer', async () => {
    const { provider } = makeProvider();
    for (const type of [' Application/X-WWW-Form-URLEncoded ; charset=UTF-8', 'APPLICATION/X-WWW-FORM-URLENCODED']) {
      const r = await provider.token(cc('grant_type=client_credentials', { 'content-type': type }));
      expect(r.status, type).toBe(200);
    }
    for (const type of [
      'application/x-www-form-urlencodedx',
      'application/x-www-form',
      '',
      'text/plain; application/x-www-form-urlencoded',
    ]) {
      const r = await provider.token(cc('grant_type=client_credentials', { 'content-type': type }));
      expect(r.status, type).toBe(400);
      expect(body(r)).toEqual({ error: 'invalid_request', error_description: 'The body must be application/x-www-form-urlencoded' });
    }
  });
  it('refuses a resource list with a value that is not a string', async () => {
    const { provider } = makeProvider();
    const r = await provider.token({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('conf', SECRET) },
      parsedBody: { grant_type: 'client_credentials', resource: ['https://api.example', 7] },
    });
    expect(r.status).toBe(400);
    expect(body(r)).toEqual({ error: 'invalid_request', error_description: "Parameter 'resource' is malformed" });
  });
});
