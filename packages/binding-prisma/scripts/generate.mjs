#!/usr/bin/env node
// Generates the Prisma clients the tests and typecheck use (test/generated/, not committed) from
// prisma/schema.prisma (PostgreSQL) and prisma/sqlite.prisma with the `prisma-client` generator: TypeScript and a WebAssembly query
// compiler, no Rust engine. PRISMA_SCHEMA_ENGINE_BINARY names a stub so the CLI downloads
// nothing; CHECKPOINT_DISABLE turns off its update check. Bounded to 120 s.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(dirname(createRequire(import.meta.url).resolve('prisma/package.json')), 'build', 'index.js');
for (const schema of ['schema.prisma', 'sqlite.prisma']) {
  const result = spawnSync(process.execPath, [cli, 'generate', '--schema', join(root, 'prisma', schema)], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 120_000,
    env: {
      ...process.env,
      PRISMA_SCHEMA_ENGINE_BINARY: join(root, 'scripts', 'no-schema-engine.mjs'),
      CHECKPOINT_DISABLE: '1',
      PRISMA_HIDE_UPDATE_MESSAGE: '1',
    },
  });
  if (result.status !== 0) {
    process.stdout.write(result.stdout ?? '');
    console.error(
      `binding-prisma: prisma generate of ${schema} failed (${result.error?.message ?? `exit ${result.status ?? result.signal}`})`,
    );
    process.exit(1);
  }
}
