/** Types are the documentation users read first: every export of every package has a doc comment. */
import { describe, expect, it } from 'vitest';
import { collect, PACKAGES, page, undocumentedExports } from '../../../scripts/api-reference.js';

describe('API reference (pnpm docs:api)', () => {
  const all = collect();
  it('finds the exports of every package (the check is not vacuous)', () => {
    expect(PACKAGES.length).toBeGreaterThanOrEqual(7);
    expect(all.size).toBe(PACKAGES.length);
    expect(all.get('@portcullis/core')!.map((d) => d.name)).toEqual(
      expect.arrayContaining(['OAuth2Provider', 'requireOAuth', 'hashSecret']),
    );
  });
  it('every exported symbol has a doc comment', () => {
    expect(undocumentedExports(all)).toEqual([]);
  });
  it('an export without a doc comment is reported', () => {
    const fake = new Map([['@portcullis/x', [{ name: 'Naked', kind: 'function', doc: '', signature: 'Naked: () => void' }]]]);
    expect(undocumentedExports(fake)).toEqual(['@portcullis/x: Naked']);
    expect(page('@portcullis/x', fake.get('@portcullis/x')!)).toContain('## `Naked` (function)');
  });
});
