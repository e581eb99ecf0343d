import { defineProject } from 'vitest/config';

// No source aliases: this project only ever runs the packed packages, installed with npm in a
// directory outside the workspace. Installing compiles sqlite3, hence the long hook timeout.
export default defineProject({
  test: {
    name: 'consumer-test',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 600_000,
  },
});
