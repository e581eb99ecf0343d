import { readFile } from 'node:fs/promises';
import { sql } from 'drizzle-orm';
import { type Dialect, driverFor, type ExecuteDatabase, guard, type SqliteDatabase } from './driver.js';

/** The migration file shipped for a dialect: `migrations/<dialect>.sql` in this package. */
export function migrationFile(dialect: Dialect): URL {
  return new URL(`../migrations/${dialect}.sql`, import.meta.url);
}

/** The statements of a dialect's migration file, comments left out, in order. */
export async function migrationStatements(dialect: Dialect): Promise<string[]> {
  const text = await readFile(migrationFile(dialect), 'utf8');
  return text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('--'))
    .join('\n')
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Arbitrary, fixed: the advisory lock that serializes concurrent `migrate()` runs on PostgreSQL. */
const PG_LOCK = 0x706f7274;

/**
 * Creates the default tables (and their indexes) of `migrations/<dialect>.sql` where they are
 * missing. Idempotent: every statement is `CREATE ... IF NOT EXISTS`, so running it on every
 * start is safe and keeps existing rows. On PostgreSQL the file runs as one multi-statement query
 * (one implicit transaction) under an advisory lock, so processes starting together do not race.
 */
export async function migrate(
  options: { db: ExecuteDatabase; dialect: 'postgresql' | 'mysql' } | { db: SqliteDatabase; dialect: 'sqlite' },
): Promise<void> {
  const driver = driverFor(options.dialect, options.db);
  const statements = await migrationStatements(options.dialect);
  await guard(async () => {
    if (options.dialect === 'postgresql') {
      const script = [`SELECT pg_advisory_xact_lock(${PG_LOCK})`, ...statements].join(';\n');
      await driver.run(sql.raw(script));
      return;
    }
    for (const statement of statements) await driver.run(sql.raw(statement));
  });
}
