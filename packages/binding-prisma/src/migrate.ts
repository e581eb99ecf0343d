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

/**
 * The columns added to the default tables since their first version, with the statement that adds
 * each, read from the `--   ALTER TABLE ... ADD COLUMN` lines of the shipped file: SQLite has no
 * `ADD COLUMN IF NOT EXISTS`, so `migrate()` runs them itself (PostgreSQL's file runs them as
 * `IF NOT EXISTS` statements, and this is empty there).
 */
export function upgradeColumns(provider: Provider = 'postgresql'): { table: string; column: string; statement: string }[] {
  const out: { table: string; column: string; statement: string }[] = [];
  for (const line of readFileSync(migrationFile(provider), 'utf8').split('\n')) {
    const m = /^--\s+(ALTER TABLE (portcullis_\w+) ADD COLUMN (\w+) [^;]+);\s*$/.exec(line);
    if (m) out.push({ table: m[2] as string, column: m[3] as string, statement: m[1] as string });
  }
  return out;
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
 * it is safe on every start and keeps existing rows), and adds `issued_at` to a token table made
 * before it and `auth_time` to code and token tables made before it (nullable: every row kept; on
 * SQLite after the transaction, a "duplicate column" of a table that has it ignored). Runs in one interactive transaction, one statement at a time
 * (Prisma's driver adapters run no multi-statement strings), on PostgreSQL under
 * `pg_advisory_xact_lock`. No Prisma schema engine is involved.
 */
export async function migrate(options: MigrateOptions): Promise<void> {
  const provider = options.provider ?? 'postgresql';
  const statements = migrationStatements(provider);
  await guard(async () => {
    await options.prisma.$transaction(async (tx) => {
      if (provider === 'postgresql') await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${LOCK})`);
      for (const statement of statements) await tx.$executeRawUnsafe(statement);
    });
    for (const { statement } of upgradeColumns(provider)) {
      try {
        await options.prisma.$executeRawUnsafe(statement);
      } catch (err) {
        if (!/duplicate column/i.test(String((err as { message?: unknown }).message ?? err))) throw err;
      }
    }
  });
}
