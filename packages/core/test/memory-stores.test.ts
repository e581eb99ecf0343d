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
