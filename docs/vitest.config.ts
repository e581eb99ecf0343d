import { createRequire } from 'node:module';
import { defineProject } from 'vitest/config';
import { sourceAliases } from '../vitest.shared.js';

// docs/ is not a workspace package (no package.json, nothing installed): `@portcullis/*` resolves
// to the packages' sources, and the few third-party modules the examples import resolve from the
// package that already depends on them.
const from = (pkg: string) => createRequire(new URL(`../packages/${pkg}/package.json`, import.meta.url));

export default defineProject({
  resolve: {
    alias: [
      ...sourceAliases,
      { find: /^sequelize$/, replacement: from('binding-sequelize').resolve('sequelize') },
      { find: /^redis$/, replacement: from('grant-cache-redis').resolve('redis') },
    ],
  },
  test: {
    name: 'docs',
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
