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

/**
 * The columns added to default tables since their first version (the client table's dynamic
 * client registration columns, the token table's `issued_at`, the code, token and device tables'
 * `auth_time`), with the table and the statement
 * that adds each, read from the `--   ALTER TABLE ... ADD COLUMN` lines of a dialect's migration
 * file (MySQL and SQLite have no `ADD COLUMN IF NOT EXISTS`, so `migrate()` runs them itself; on
 * PostgreSQL the file runs them as `IF NOT EXISTS` statements and this is empty).
 */
export async function upgradeColumns(dialect: Dialect): Promise<{ table: string; column: string; statement: string }[]> {
  const text = await readFile(migrationFile(dialect), 'utf8');
  const out: { table: string; column: string; statement: string }[] = [];
  for (const line of text.split('\n')) {
    const m = /^--\s+(ALTER TABLE (portcullis_\w+) ADD COLUMN (\w+) [^;]+);\s*$/.exec(line);
    if (m) out.push({ table: m[2] as string, column: m[3] as string, statement: m[1] as string });
  }
  return out;
}

/**
 * The indexes added to default tables since their first version, with the statement that makes
 * each, read from the `--   CREATE INDEX ...` lines of a dialect's migration file: MySQL has no
 * `CREATE INDEX IF NOT EXISTS`, so `migrate()` runs those an older table lacks (PostgreSQL and
 * SQLite run them from the file, `IF NOT EXISTS`).
 */
export async function upgradeIndexes(dialect: Dialect): Promise<{ table: string; index: string; statement: string }[]> {
  const text = await readFile(migrationFile(dialect), 'utf8');
  const out: { table: string; index: string; statement: string }[] = [];
  for (const line of text.split('\n')) {
    const m = /^--\s+(CREATE INDEX (\w+) ON (portcullis_\w+) [^;]+);\s*$/.exec(line);
    if (m) out.push({ table: m[3] as string, index: m[2] as string, statement: m[1] as string });
  }
  return out;
}

/** The column names of a default table as the database has them (`table` comes from the shipped file). */
async function tableColumns(driver: ReturnType<typeof driverFor>, table: string): Promise<Set<string>> {
  const query =
    driver.dialect === 'sqlite'
      ? sql`SELECT name FROM pragma_table_info(${table})`
      : sql`SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${table}`;
  return new Set((await driver.rows(query)).map((r) => String(r.name ?? r.NAME)));
}

/** The index names of a default table on MySQL/MariaDB. */
async function tableIndexes(driver: ReturnType<typeof driverFor>, table: string): Promise<Set<string>> {
  const query = sql`SELECT INDEX_NAME AS name FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${table}`;
  return new Set((await driver.rows(query)).map((r) => String(r.name ?? r.NAME)));
}

/** Arbitrary, fixed: the advisory lock that serializes concurrent `migrate()` runs on PostgreSQL. */
const PG_LOCK = 0x706f7274;

/**
 * Creates the default tables (and their indexes) of `migrations/<dialect>.sql` where they are
 * missing, adds the dynamic client registration columns to a client table made before them,
 * `issued_at` and the `(user_id, client_id)` index to a token table made before them, and
 * `auth_time` to code, token and device tables made before it (nullable, no default: every row
 * kept). Idempotent: every statement is `CREATE ... IF NOT
 * EXISTS` or adds only a missing column, so running it on every start is safe and keeps existing
 * rows. On PostgreSQL the file runs as one multi-statement query
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
    // Tables made before a column (client registration, token issued_at, auth_time): add what they lack.
    // Two processes may race here; the loser's "duplicate column" is ignored once the column exists.
    for (const { table, column, statement } of await upgradeColumns(options.dialect)) {
      if ((await tableColumns(driver, table)).has(column)) continue;
      try {
        await driver.run(sql.raw(statement));
      } catch (err) {
        if (!(await tableColumns(driver, table)).has(column)) throw err;
      }
    }
    if (options.dialect !== 'mysql') return;
    for (const { table, index, statement } of await upgradeIndexes(options.dialect)) {
      if ((await tableIndexes(driver, table)).has(index)) continue;
      try {
        await driver.run(sql.raw(statement));
      } catch (err) {
        if (!(await tableIndexes(driver, table)).has(index)) throw err;
      }
    }
  });
}
