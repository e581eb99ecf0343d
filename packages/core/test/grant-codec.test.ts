import { describe, expect, it } from 'vitest';
import type { GrantRecord } from '../src/contract.js';
import { decodeGrant, encodeGrant } from '../src/grant-codec.js';

const grant: GrantRecord = {
  code: 'code-digest',
  clientId: 'c1',
  userId: 'u1',
  redirectUri: 'https://app.example/cb?x=1',
  scopes: ['write', 'read'],
  expiresAt: new Date(1_700_000_000_789),
  grantId: 'family-1',
  codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
  codeChallengeMethod: 'S256',
};

describe('grant codec', () => {
  it('round-trips every field, expiresAt to the millisecond', () => {
    const back = decodeGrant('c1', 'code-digest', encodeGrant(grant));
    expect(back).toEqual(grant);
    expect(back?.expiresAt.getTime()).toBe(1_700_000_000_789);
    const noPkce = { ...grant, codeChallenge: null, codeChallengeMethod: null, scopes: [] };
    expect(decodeGrant('c1', 'code-digest', encodeGrant(noPkce))).toEqual(noPkce);
  });

  it('writes the format the caches have always stored: no client id, no code, expiresAt in ms', () => {
    expect(encodeGrant(grant)).toBe(
      '{"userId":"u1","redirectUri":"https://app.example/cb?x=1","scopes":["write","read"],"expiresAt":1700000000789,' +
        '"grantId":"family-1","codeChallenge":"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM","codeChallengeMethod":"S256"}',
    );
  });

  it('round-trips a null redirectUri (the authorization request left redirect_uri out) as null', () => {
    const omitted: GrantRecord = { ...grant, redirectUri: null };
    const text = encodeGrant(omitted);
    expect(JSON.parse(text)).toHaveProperty('redirectUri', null);
    const back = decodeGrant('c1', 'code-digest', text);
    expect(back).toEqual(omitted);
    expect(back?.redirectUri).toBeNull();
    // A string stays a string, the empty one included: never confused with null.
    expect(decodeGrant('c1', 'code-digest', encodeGrant({ ...grant, redirectUri: '' }))?.redirectUri).toBe('');
  });

  it('decodes text written before redirectUri could be null, byte for byte as the caches hold it', () => {
    const old =
      '{"userId":"u1","redirectUri":"https://app.example/cb?x=1","scopes":["write","read"],"expiresAt":1700000000789,' +
      '"grantId":"family-1","codeChallenge":"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM","codeChallengeMethod":"S256"}';
    expect(decodeGrant('c1', 'code-digest', old)).toEqual(grant);
    expect(encodeGrant({ ...grant, redirectUri: null })).toBe(old.replace('"https://app.example/cb?x=1"', 'null'));
  });

  it('takes clientId and code from the caller', () => {
    expect(decodeGrant('other', 'k', encodeGrant(grant))).toMatchObject({ clientId: 'other', code: 'k', userId: 'u1' });
  });

  it('refuses an invalid expiresAt when encoding', () => {
    expect(() => encodeGrant({ ...grant, expiresAt: new Date(Number.NaN) })).toThrow(TypeError);
  });

  it('returns null for anything malformed, never throws', () => {
    const good = JSON.parse(encodeGrant(grant)) as Record<string, unknown>;
    const variants: unknown[] = [
      { ...good, userId: 1 },
      { ...good, redirectUri: undefined },
      { ...good, redirectUri: 0 },
      { ...good, redirectUri: false },
      { ...good, redirectUri: ['https://app.example/cb'] },
      { ...good, redirectUri: {} },
      { ...good, scopes: 'read' },
      { ...good, scopes: ['read', 2] },
      { ...good, expiresAt: '1700000000789' },
      { ...good, expiresAt: 1e300 },
      { ...good, grantId: null },
      { ...good, codeChallenge: 5 },
      { ...good, codeChallengeMethod: 'S512' },
      { ...good, codeChallengeMethod: undefined },
    ];
    const texts = [
      '',
      'not json',
      '{',
      'null',
      '42',
      '"x"',
      '[]',
      '{}',
      '{"consumed":true,"grantId":"g"}',
      ...variants.map((v) => JSON.stringify(v)),
    ];
    for (const text of texts) expect(decodeGrant('c1', 'code', text), text).toBeNull();
  });
});
