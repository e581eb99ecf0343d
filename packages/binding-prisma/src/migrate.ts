import { readFileSync } from 'node:fs';
import { guard, type MigratablePrisma } from './client.js';

/** The databases this binding ships tables for: the `provider` of the Prisma datasource. */
export type Provider = 'postgresql' | 'sqlite';

function checked(provider: Provider): Provider {
  if (provider !== 'postgresql' && provider !== 'sqlite') {
    throw new TypeError(`binding-prisma: unknown provider ${JSON.stringify(provider)} (postgresql or sqlite)`);
  }
  return provider;
}

/** The URL of the plain SQL migration shipped with the package (`migrations/<provider>.sql`). */
export function migrationFile(provider: Provider = 'postgresql'): URL {
  return new URL(`../migrations/${checked(provider)}.sql`, import.meta.url);
}

/** The statements of the shipped migration, comments removed, one string each. */
export function migrationStatements(provider: Provider = 'postgresql'): string[] {
  const text = readFileSync(migrationFile(provider), 'utf8')
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('--'))
    .join('\n');
  return text
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Any fixed number: the advisory lock that keeps PostgreSQL processes starting together from racing. */
const LOCK = 7_265_017;

/** What `migrate` takes: a Prisma client that runs raw statements in an interactive transaction. */
export interface MigrateOptions {
  prisma: MigratablePrisma & { $transaction<R>(fn: (tx: MigratablePrisma) => Promise<R>): PromiseLike<R> };
  /** The datasource's provider; default `'postgresql'`. */
  provider?: Provider;
}

/**
 * Creates the Portcullis tables where missing (every statement is `CREATE ... IF NOT EXISTS`, so
 * it is safe on every start and keeps existing rows). Runs in one interactive transaction, one
 * statement at a time (Prisma's driver adapters run no multi-statement strings), on PostgreSQL
 * under `pg_advisory_xact_lock`. No Prisma schema engine is involved.
 */
export async function migrate(options: MigrateOptions): Promise<void> {
  const provider = options.provider ?? 'postgresql';
  const statements = migrationStatements(provider);
  await guard(async () => {
    await options.prisma.$transaction(async (tx) => {
      if (provider === 'postgresql') await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${LOCK})`);
      for (const statement of statements) await tx.$executeRawUnsafe(statement);
    });
  });
}
