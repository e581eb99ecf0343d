import { defineProject } from 'vitest/config';

export default defineProject({
  // The test runs the app as built by tsc (dist/), as `pnpm build && pnpm start` does.
  test: { name: 'example-nestjs', include: ['test/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 240_000 },
});
