/**
 * Generates the Prisma client the tests use (scripts/generate.mjs: `prisma generate` with no
 * engine download), then starts a throwaway PostgreSQL (Debian package `postgresql`) with the
 * testkit's launcher and hands its URL to the tests; stops it in teardown.
 * `DATABASE_URL_POSTGRES` names an existing server instead.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startPostgres } from '@portcullis/binding-testkit/servers';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  execFileSync(process.execPath, [fileURLToPath(new URL('../scripts/generate.mjs', import.meta.url))], {
    stdio: 'inherit',
    timeout: 150_000,
  });
  const env = process.env.DATABASE_URL_POSTGRES;
  if (env) {
    project.provide('postgresUrl', env);
    return async () => {};
  }
  const server = await startPostgres();
  project.provide('postgresUrl', server.url);
  return () => server.stop();
}
