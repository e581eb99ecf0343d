import type { EphemeralStore } from '@portcullis/core';
import { sql } from 'drizzle-orm';
import { type Driver, guard } from './driver.js';
import { duplicateKey, fits, insertValues, MAX_ID, name } from './stores.js';
import type { EphemeralColumns, TableWith } from './tables.js';

/**
 * A value as the `value` column holds it: every backslash doubled and every NUL written as `\0`.
 * PostgreSQL text cannot hold NUL; the same escaping on every dialect keeps the tables alike.
 * Core's values (JSON without NUL or backslash, as a rule) are stored unchanged.
 */
export function escapeEphemeralValue(value: string): string {
  if (!value.includes('\\') && !value.includes('\u0000')) return value;
  let out = '';
  for (const ch of value) out += ch === '\\' ? '\\\\' : ch === '\u0000' ? '\\0' : ch;
  return out;
}

/** The inverse of `escapeEphemeralValue`. */
export function unescapeEphemeralValue(stored: string): string {
  if (!stored.includes('\\')) return stored;
  let out = '';
  for (let i = 0; i < stored.length; i++) {
    const ch = stored[i] as string;
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const next = stored[++i];
    out += next === '0' ? '\u0000' : (next ?? '');
  }
  return out;
}

/**
 * Core's `EphemeralStore` (pushed authorization requests, RFC 9126; DPoP proof ids, RFC 9449) over
 * an ephemeral table (keys: `EphemeralColumns`; `key` its primary key, compared exactly, at most
 * 255 characters; `value` text of at least 64 KiB, MEDIUMTEXT on MySQL/MariaDB). Values keep NUL
 * and backslashes escaped (`escapeEphemeralValue`).
 *
 * - `add`: a DELETE of the key's expired row, then an INSERT; the primary key lets exactly one of
 *   N concurrent INSERTs through (`ON CONFLICT DO NOTHING` on PostgreSQL and SQLite, the
 *   duplicate-key error on MySQL), the others answer `false`. The DELETE is conditioned on
 *   `expiresAt <= now`, so it never removes a live row.
 * - `get`: a SELECT of the live row.
 * - `take`: `DELETE ... WHERE key = ? AND expiresAt > now RETURNING value` on PostgreSQL and
 *   SQLite. On MySQL (no RETURNING): a SELECT of the live row, then a DELETE of that key whose
 *   value is byte for byte the one read; the one caller whose DELETE removed the row gets it.
 */
export function createEphemeralStore(driver: Driver, table: TableWith<EphemeralColumns>): EphemeralStore {
  const k = name(table.key);
  const v = name(table.value);
  const exp = name(table.expiresAt);
  /** A key the default column can hold; any other key is held by no record. */
  const usable = (key: string) => fits(key, MAX_ID);
  const live = async (key: string, now: Date): Promise<string | null> => {
    const rows = await driver.rows(
      sql`SELECT ${k} AS ${sql.identifier('key')}, ${v} AS ${sql.identifier('value')} FROM ${table} WHERE ${k} = ${key} AND ${exp} > ${driver.time(now)}`,
    );
    const row = rows[0];
    // Exact match whatever the column collation.
    return row && row.key === key && typeof row.value === 'string' ? row.value : null;
  };
  return {
    add: (key, value, expiresAt) =>
      guard(async () => {
        if (!usable(key)) throw new RangeError(`add: the key is longer than ${MAX_ID} characters or contains a NUL character`);
        await driver.run(sql`DELETE FROM ${table} WHERE ${k} = ${key} AND ${exp} <= ${driver.time(new Date())}`);
        const insert = sql`INSERT INTO ${table} ${insertValues(table, [
          { key, value: escapeEphemeralValue(value), expiresAt: driver.time(expiresAt) },
        ])}`;
        if (driver.dialect !== 'mysql') return (await driver.run(sql`${insert} ON CONFLICT (${k}) DO NOTHING`)) === 1;
        try {
          await driver.run(insert);
          return true;
        } catch (err) {
          if (duplicateKey(err)) return false;
          throw err;
        }
      }),
    get: (key) =>
      guard(async () => {
        if (!usable(key)) return null;
        const stored = await live(key, new Date());
        return stored === null ? null : unescapeEphemeralValue(stored);
      }),
    take: (key) =>
      guard(async () => {
        if (!usable(key)) return null;
        const now = driver.time(new Date());
        if (driver.returning) {
          const rows = await driver.rows(
            sql`DELETE FROM ${table} WHERE ${k} = ${key} AND ${exp} > ${now} RETURNING ${v} AS ${sql.identifier('value')}`,
          );
          const value = rows[0]?.value;
          return typeof value === 'string' ? unescapeEphemeralValue(value) : null;
        }
        const stored = await live(key, new Date());
        if (stored === null) return null;
        // BINARY: byte for byte, no collation and no trailing-space padding.
        const removed = await driver.run(
          sql`DELETE FROM ${table} WHERE ${k} = ${key} AND ${exp} > ${now} AND BINARY ${v} = BINARY ${stored}`,
        );
        return removed === 1 ? unescapeEphemeralValue(stored) : null;
      }),
  };
}
