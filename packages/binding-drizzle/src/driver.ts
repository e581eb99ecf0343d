/**
 * The few things that differ between dialects, behind one small interface: how a statement is
 * run (`execute` on PostgreSQL and MySQL, `all`/`run` on SQLite), how its rows and affected-row
 * count come back, how a time is written, and whether `UPDATE ... RETURNING` exists.
 */
import { isStoreUnavailable, StoreUnavailableError } from '@portcullis/core';
import { DrizzleQueryError, type SQL } from 'drizzle-orm';

/** The dialects this binding speaks. */
export type Dialect = 'postgresql' | 'mysql' | 'sqlite';

/**
 * A Drizzle database of PostgreSQL (`drizzle-orm/node-postgres`, `drizzle-orm/postgres-js`, ...)
 * or MySQL/MariaDB (`drizzle-orm/mysql2`): anything with Drizzle's `execute(sql)`.
 */
export interface ExecuteDatabase {
  execute(query: SQL): PromiseLike<unknown>;
}

/** A Drizzle SQLite database (`drizzle-orm/libsql`, `drizzle-orm/better-sqlite3`, ...). */
export interface SqliteDatabase {
  all(query: SQL): unknown;
  run(query: SQL): unknown;
}

export type Row = Record<string, unknown>;

/** What the stores need from a database. */
export interface Driver {
  readonly dialect: Dialect;
  /** Runs a statement that returns rows (SELECT, or UPDATE ... RETURNING where it exists). */
  rows(query: SQL): Promise<Row[]>;
  /** Runs a statement and returns how many rows it changed. */
  run(query: SQL): Promise<number>;
  /** A time as the dialect's time columns take it. */
  time(date: Date): unknown;
  /** `true` when `UPDATE ... RETURNING` exists (PostgreSQL, SQLite >= 3.35). */
  readonly returning: boolean;
}

function affected(result: unknown): number {
  const r = result as { rowCount?: unknown; count?: unknown; affectedRows?: unknown; changes?: unknown; rowsAffected?: unknown };
  const n = r.rowCount ?? r.affectedRows ?? r.rowsAffected ?? r.changes ?? r.count;
  return typeof n === 'number' ? n : typeof n === 'bigint' ? Number(n) : 0;
}

/** Builds the driver of a database; `dialect` says which kind it is. */
export function driverFor(dialect: Dialect, db: ExecuteDatabase | SqliteDatabase): Driver {
  if (dialect === 'sqlite') {
    const lite = db as SqliteDatabase;
    if (typeof lite.all !== 'function' || typeof lite.run !== 'function') {
      throw new TypeError("binding-drizzle: dialect 'sqlite' needs a Drizzle SQLite database (with all() and run())");
    }
    return {
      dialect,
      returning: true,
      time: (date) => date.getTime(),
      rows: async (query) => (await lite.all(query)) as Row[],
      run: async (query) => affected(await lite.run(query)),
    };
  }
  const database = db as ExecuteDatabase;
  if (typeof database.execute !== 'function') {
    throw new TypeError(`binding-drizzle: dialect '${dialect}' needs a Drizzle database with execute()`);
  }
  // Every statement of the stores runs on its own (autocommit): one the server chose as a
  // deadlock's victim was rolled back whole, so it is run again (see `DEADLOCK_ATTEMPTS`).
  const exec = { execute: (query: SQL) => againOnDeadlock(() => database.execute(query)) };
  if (dialect === 'mysql') {
    // mysql2 answers [rows, fields] for a SELECT and [ResultSetHeader, undefined] for a change.
    return {
      dialect,
      returning: false,
      time: (date) => new Date(date.getTime()),
      rows: async (query) => {
        const result = (await exec.execute(query)) as unknown[];
        const first = result[0];
        return Array.isArray(first) ? (first as Row[]) : [];
      },
      run: async (query) => affected(((await exec.execute(query)) as unknown[])[0]),
    };
  }
  // node-postgres answers a QueryResult ({ rows, rowCount }); postgres-js an array with `count`.
  return {
    dialect,
    returning: true,
    time: (date) => new Date(date.getTime()),
    rows: async (query) => {
      const result = await exec.execute(query);
      return (Array.isArray(result) ? result : ((result as { rows?: Row[] }).rows ?? [])) as Row[];
    },
    run: async (query) => affected(await exec.execute(query)),
  };
}

/**
 * How often one statement is tried when the server picks it as a deadlock's victim. InnoDB does so
 * when, say, a refresh token's new pair is inserted while a replay revokes the same family (the
 * `UPDATE ... WHERE grant_id` and the `INSERT` lock the same index gap). The victim changed nothing,
 * so running it again is safe; past the last attempt the store answers `StoreUnavailableError`.
 */
export const DEADLOCK_ATTEMPTS = 4;

/** `true` for a deadlock (MySQL/MariaDB errno 1213, PostgreSQL SQLSTATE 40P01) anywhere in the cause chain. */
export function isDeadlock(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 6; depth++) {
    const { code, errno } = e as { code?: unknown; errno?: unknown };
    if (code === 'ER_LOCK_DEADLOCK' || errno === 1213 || code === '40P01') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** Runs one statement, again (after a few milliseconds) each time it is a deadlock's victim, up to `DEADLOCK_ATTEMPTS` times. */
export async function againOnDeadlock<T>(run: () => PromiseLike<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (attempt >= DEADLOCK_ATTEMPTS || !isDeadlock(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, attempt * 2 + Math.floor(Math.random() * 5)));
    }
  }
}

const LOST_MESSAGE =
  /connection terminated|connection (is )?closed|client (has been )?closed|socket (has been |unexpectedly )?closed|server has gone away|lost connection|cannot enqueue|pool is closed|database is closed|timeout (exceeded )?(when )?(trying to )?connect/i;

/** `true` when a driver error means the database cannot be reached right now. */
export function isConnectionLost(err: unknown): boolean {
  if (isStoreUnavailable(err)) return true;
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 6; depth++) {
    const { code, fatal, message } = e as { code?: unknown; fatal?: unknown; message?: unknown };
    if (fatal === true) return true; // mysql2: the connection itself is unusable
    // PostgreSQL SQLSTATE class 08 (connection exception) and 57P01-57P03 (server shutting down).
    if (typeof code === 'string' && (/^(08...|57P0[1-3])$/.test(code) || code === 'PROTOCOL_CONNECTION_LOST')) return true;
    if (typeof message === 'string' && LOST_MESSAGE.test(message)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Runs a store operation, turning a lost connection, or a statement still a deadlock's victim after
 * `DEADLOCK_ATTEMPTS` tries, into `StoreUnavailableError` (core: 503 `temporarily_unavailable`).
 */
export async function guard<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    const cause = queryCause(err);
    if (isConnectionLost(cause)) throw new StoreUnavailableError('The SQL database cannot be reached', { cause });
    if (isDeadlock(cause)) throw new StoreUnavailableError('The SQL database kept choosing the statement as a deadlock victim', { cause });
    throw cause;
  }
}

/**
 * Drizzle wraps a failed statement in an error whose message lists the statement and its
 * parameters (digests, ids, redirect URIs). The stores throw the driver's own error instead, so
 * no parameter ends up in a log line.
 */
export function queryCause(err: unknown): unknown {
  // Drizzle's class leaves `name` as 'Error': tell it by its class (or, from another copy of
  // drizzle-orm, by its constructor's name).
  const wrapped = err instanceof DrizzleQueryError || (err instanceof Error && err.constructor.name === 'DrizzleQueryError');
  if (wrapped && err.cause !== undefined) return err.cause;
  return err;
}
