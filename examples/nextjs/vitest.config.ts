import { defineProject } from 'vitest/config';

export default defineProject({
  // The test runs `next build` (about a minute on two cores) and `next start` as child processes.
  test: { name: 'example-nextjs', include: ['test/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 420_000 },
});
