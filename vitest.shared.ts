import { fileURLToPath } from 'node:url';

const packagesDir = fileURLToPath(new URL('./packages/', import.meta.url));

/**
 * Test-time resolution: every `@portcullis/<dir>` import resolves to that package's TypeScript
 * source, so tests never run against a stale build.
 */
export const sourceAliases = [
  { find: /^@portcullis\/([a-z-]+)$/, replacement: `${packagesDir}$1/src/index.ts` },
];
