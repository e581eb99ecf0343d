import { defineProject } from 'vitest/config';
import { sourceAliases } from '../../vitest.shared.js';

export default defineProject({
  resolve: { alias: sourceAliases },
  test: { name: 'example-provider', include: ['test/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 120_000 },
});
