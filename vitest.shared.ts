import { fileURLToPath } from 'node:url';

const packagesDir = fileURLToPath(new URL('./packages/', import.meta.url));

/**
 * Test-time resolution: every `@portcullis/<dir>` import resolves to that package's TypeScript
 * source (`src/index.ts`, and `src/<sub>.ts` for a subpath `@portcullis/<dir>/<sub>`), so tests
 * never run against a stale build.
 */
export const sourceAliases = [
  { find: /^@portcullis\/([a-z-]+)$/, replacement: `${packagesDir}$1/src/index.ts` },
  { find: /^@portcullis\/([a-z-]+)\/([a-z-]+)$/, replacement: `${packagesDir}$1/src/$2.ts` },
];
