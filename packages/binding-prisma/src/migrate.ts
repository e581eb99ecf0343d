import { readFileSync } from 'node:fs';
import { guard, type MigratablePrisma } from './client.js';

/** The URL of the plain SQL migration shipped with the package (`migrations/postgresql.sql`). */
export function migrationFile(): URL {
  return new URL('../migrations/postgresql.sql', import.meta.url);
}

/** The statements of the shipped migration, comments removed, one string each. */
export function migrationStatements(): string[] {
  const text = readFileSync(migrationFile(), 'utf8')
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('--'))
    .join('\n');
  return text
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Any fixed number: the advisory lock that keeps processes starting together from racing. */
const LOCK = 7_265_017;

/**
 * Creates the Portcullis tables where missing (every statement is `CREATE ... IF NOT EXISTS`, so
 * it is safe on every start and keeps existing rows). Runs in one interactive transaction under
 * `pg_advisory_xact_lock`, one statement at a time (Prisma's driver adapters run no
 * multi-statement strings). No Prisma schema engine is involved.
 */
export async function migrate(options: {
  prisma: MigratablePrisma & { $transaction<R>(fn: (tx: MigratablePrisma) => Promise<R>): PromiseLike<R> };
}): Promise<void> {
  const statements = migrationStatements();
  await guard(async () => {
    await options.prisma.$transaction(async (tx) => {
      await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${LOCK})`);
      for (const statement of statements) await tx.$executeRawUnsafe(statement);
    });
  });
}
