/** Limits of the core in-memory stores beyond the contract. */
import { describe, expect, it } from 'vitest';
import { createMemoryStores, type GrantRecord } from '../src/index.js';

function grant(code: string): GrantRecord {
  return {
    code,
    clientId: 'c',
    userId: 'u',
    redirectUri: 'https://app.example/cb',
    scopes: ['read'],
    expiresAt: new Date(Date.now() + 60_000),
    grantId: `g-${code}`,
    codeChallenge: null,
    codeChallengeMethod: null,
  };
}

describe('createMemoryStores maxCodes', () => {
  it('drops the oldest codes past the limit, so a flood of unredeemed codes stays bounded', async () => {
    const { grants } = createMemoryStores({ maxCodes: 3 });
    for (let i = 0; i < 10; i++) await grants.saveGrant(grant(`code-${i}`));
    for (let i = 0; i < 7; i++) expect(await grants.consumeGrant('c', `code-${i}`)).toBeNull();
    for (let i = 7; i < 10; i++) expect((await grants.consumeGrant('c', `code-${i}`))?.outcome).toBe('consumed');
    // The three survivors are now replay markers; a new code pushes the oldest marker out.
    await grants.saveGrant(grant('code-10'));
    expect(await grants.consumeGrant('c', 'code-7')).toBeNull();
    expect((await grants.consumeGrant('c', 'code-8'))?.outcome).toBe('replayed');
  });

  it('refuses a limit that is not a positive integer', () => {
    expect(() => createMemoryStores({ maxCodes: 0 })).toThrow(RangeError);
    expect(() => createMemoryStores({ maxCodes: 1.5 })).toThrow(RangeError);
  });
});

describe('memory registrations.listClients', () => {
  it('pages through clients in id order', async () => {
    const { createMemoryStores: make } = await import('../src/index.js');
    const s = make({ clients: ['c', 'a', 'b', 'd'].map((id) => ({ id, secretHash: null, redirectUris: [], grantTypes: [], scopes: [] })) });
    const p1 = await s.registrations.listClients!(null, 3);
    expect(p1.clients.map((c) => c.id)).toEqual(['a', 'b', 'c']);
    expect(p1.next).toBe('c');
    const p2 = await s.registrations.listClients!(p1.next, 3);
    expect(p2.clients.map((c) => c.id)).toEqual(['d']);
    expect(p2.next).toBeNull();
    expect((await s.registrations.listClients!(null, 4)).next).toBeNull();
  });
});

describe('memory token families and shared scope lists', () => {
  const access = (token: string, grantId: string, scopes: string[]) => ({
    token,
    clientId: 'c',
    userId: null,
    scopes,
    expiresAt: new Date(Date.now() + 60_000),
    grantId,
  });

  it('revokes a family of one token, of several, and forgets a revoked member', async () => {
    const { tokens } = createMemoryStores();
    await tokens.saveTokens(access('solo', 'g1', ['read']), null);
    await tokens.saveTokens(access('a1', 'g2', ['read']), { ...access('r1', 'g2', ['read']) });
    await tokens.saveTokens(access('a2', 'g2', ['read']), null);
    await tokens.revokeFamily('g1');
    expect(tokens.getAccessToken('solo')).toBeNull();
    await tokens.revokeAccessToken('a1');
    expect(tokens.getAccessToken('a1')).toBeNull();
    expect(tokens.getAccessToken('a2')).not.toBeNull();
    await tokens.revokeFamily('g2');
    expect(tokens.getAccessToken('a2')).toBeNull();
    expect(await tokens.getRefreshToken('r1')).toBeNull();
    // A single-token family whose token was revoked on its own is gone: a new token under the
    // same id starts a new family and is revoked with it.
    await tokens.saveTokens(access('solo2', 'g3', ['read']), null);
    await tokens.revokeAccessToken('solo2');
    await tokens.saveTokens(access('solo3', 'g3', ['read']), null);
    await tokens.revokeFamily('g3');
    expect(tokens.getAccessToken('solo3')).toBeNull();
  });

  it('keeps one frozen copy per scope list, never the caller’s array, and never mixes lists up', async () => {
    const { tokens } = createMemoryStores();
    const mine = ['read', 'write'];
    await tokens.saveTokens(access('t1', 'g1', mine), null);
    await tokens.saveTokens(access('t2', 'g2', ['read', 'write']), null);
    mine.push('admin');
    const t1 = await tokens.getAccessToken('t1');
    const t2 = await tokens.getAccessToken('t2');
    expect(t1?.scopes).toEqual(['read', 'write']);
    expect(t1?.scopes).toBe(t2?.scopes);
    expect(Object.isFrozen(t1?.scopes)).toBe(true);
    // Lists that join to the same text are still told apart.
    await tokens.saveTokens(access('t3', 'g3', ['read write']), null);
    expect((await tokens.getAccessToken('t3'))?.scopes).toEqual(['read write']);
    expect((await tokens.getAccessToken('t1'))?.scopes).toEqual(['read', 'write']);
  });
});

describe('memory registrations.listClients order', () => {
  it('pages in code-point order, as the database bindings do (U+FFFD before U+1F600, unlike UTF-16 order)', async () => {
    const ids = ['a', 'b\u{1F600}', 'b\uFFFD', 'B', '\u00e9'];
    const s = createMemoryStores({ clients: ids.map((id) => ({ id, secretHash: null, redirectUris: [], grantTypes: [], scopes: [] })) });
    const seen: string[] = [];
    let after: string | null = null;
    for (let i = 0; i < 10; i++) {
      const page: { clients: readonly { id: string }[]; next: string | null } = await s.registrations.listClients!(after, 2);
      seen.push(...page.clients.map((c) => c.id));
      if (page.next === null) break;
      after = page.next;
    }
    expect(seen).toEqual(['B', 'a', 'b\uFFFD', 'b\u{1F600}', '\u00e9']);
  });
});

describe('memory access tokens held without Date objects', () => {
  const at = Date.UTC(2030, 0, 2, 3, 4, 5, 678);
  const record = {
    token: 'digest-1',
    clientId: 'c',
    userId: 'u',
    scopes: ['read'],
    expiresAt: new Date(Date.now() + 60_000),
    grantId: 'g1',
    audience: ['https://api.example/'],
    dpopJkt: 'jkt-1',
    issuedAt: new Date(at),
  };

  it('gives back every field, with the times as Dates to the millisecond', async () => {
    const { tokens } = createMemoryStores();
    await tokens.saveTokens(record, null);
    const got = await tokens.getAccessToken('digest-1');
    expect(got).toEqual(record);
    expect(got?.expiresAt).toBeInstanceOf(Date);
    expect(got?.issuedAt?.getTime()).toBe(at);
  });

  it('leaves out the optional fields a record did not have', async () => {
    const { tokens } = createMemoryStores();
    const { audience: _a, dpopJkt: _d, issuedAt: _i, ...bare } = record;
    await tokens.saveTokens(bare, null);
    const got = await tokens.getAccessToken('digest-1');
    expect(got).toEqual(bare);
    expect(got && Object.keys(got).sort()).toEqual(Object.keys(bare).sort());
  });

  it('hands out copies: changing a read record, or the saved one, changes nothing held', async () => {
    const { tokens } = createMemoryStores();
    const mine = { ...record, audience: [...record.audience], expiresAt: new Date(record.expiresAt) };
    await tokens.saveTokens(mine, null);
    mine.audience.push('https://evil.example/');
    mine.expiresAt.setTime(0);
    const first = (await tokens.getAccessToken('digest-1')) as { expiresAt: Date; audience?: readonly string[] };
    first.expiresAt.setTime(0);
    expect(() => (first.audience as string[]).push('https://evil.example/')).toThrow(TypeError);
    const again = await tokens.getAccessToken('digest-1');
    expect(again).not.toBe(first);
    expect(again?.expiresAt.getTime()).toBe(record.expiresAt.getTime());
    expect(again?.audience).toEqual(['https://api.example/']);
  });

  it('treats a token as expired from its expiry millisecond on', async () => {
    const { tokens } = createMemoryStores();
    await tokens.saveTokens({ ...record, expiresAt: new Date(Date.now() - 1) }, null);
    expect(await tokens.getAccessToken('digest-1')).toBeNull();
  });
});
