import type { EphemeralStore } from '@portcullis/core';
import { Op, QueryTypes, type Sequelize, Transaction, UniqueConstraintError } from 'sequelize';
import type { PortcullisModel } from './models.js';
import { guardStoreCall as guard } from './stores.js';

/**
 * Values are kept as text with NUL and backslash escaped (`\0`, `\\`): PostgreSQL text cannot hold
 * NUL, and every dialect then holds the same text. Core's values (JSON) hold no NUL, so they are
 * stored as they are except for doubled backslashes.
 */
function encodeValue(value: string): string {
  return value.includes('\\') || value.includes('\u0000') ? value.replaceAll('\\', '\\\\').replaceAll('\u0000', '\\0') : value;
}

function decodeValue(stored: string): string {
  return stored.includes('\\') ? stored.replace(/\\(\\|0)/g, (_, c: string) => (c === '0' ? '\u0000' : '\\')) : stored;
}

interface DateType {
  stringify?: (value: Date, options: { timezone?: string }) => unknown;
}

/**
 * A date as a bound parameter of a statement of this binding's own: a `Date` on PostgreSQL (the
 * driver sends its offset); elsewhere the text Sequelize itself writes, so comparisons with
 * stored values agree.
 */
function dateParam(sequelize: Sequelize, model: PortcullisModel): (value: Date) => unknown {
  if (sequelize.getDialect() === 'postgres') return (value) => value;
  const type = (model.getAttributes() as Record<string, { type?: DateType }>).expiresAt?.type;
  const timezone = (sequelize as unknown as { options: { timezone?: string } }).options.timezone;
  const stringify = type?.stringify;
  return typeof stringify === 'function' ? (value) => stringify.call(type, value, { timezone }) : (value) => value;
}

/**
 * Core's `EphemeralStore` (pushed authorization requests, RFC 9126; DPoP proof ids, RFC 9449) over
 * an ephemeral model (attributes: `key` (primary key, a string column of at least 200 characters),
 * `value` (text of at least 64 KiB: LONGTEXT or MEDIUMTEXT on MariaDB/MySQL), `expiresAt` (a
 * date)); `defineModels` makes the default one and `migrate()` its table.
 *
 * - `add`: deletes the key's row when it has expired, then INSERTs; the primary key lets exactly
 *   one of N concurrent inserts through, and the others' unique violation answers `false`. A
 *   stale delete never removes a live row (it is conditioned on `expiresAt <= now`).
 * - `get`: a SELECT of the live row.
 * - `take`: one `DELETE ... WHERE key = ? AND expiresAt > now RETURNING value` on PostgreSQL,
 *   SQLite (3.35+) and MariaDB (10.0.5+): the one caller whose DELETE removed the row gets the
 *   value. Other dialects (MySQL): a transaction with `SELECT ... FOR UPDATE`, then DELETE.
 */
export function createEphemeralStore(model: PortcullisModel): EphemeralStore {
  const attrs = model.getAttributes() as Record<string, { field?: string } | undefined>;
  const missing = ['key', 'value', 'expiresAt'].filter((a) => !attrs[a]);
  if (missing.length > 0) {
    throw new TypeError(`createEphemeralStore: the model ${model.name} lacks the attribute(s) ${missing.join(', ')} (see the README)`);
  }
  const sequelize = model.sequelize as Sequelize;
  const dialect = sequelize.getDialect();
  const qi = sequelize.getQueryInterface();
  const column = (attribute: string) => qi.quoteIdentifier(attrs[attribute]?.field ?? attribute);
  const table = (qi as unknown as { queryGenerator: { quoteTable(t: unknown): string } }).queryGenerator.quoteTable(model.getTableName());
  const toDate = dateParam(sequelize, model);
  const returning = dialect === 'postgres' || dialect === 'sqlite' || dialect === 'mariadb';
  // Sequelize turns `$n` into each dialect's placeholder.
  const takeSql =
    `DELETE FROM ${table} WHERE ${column('key')} = $1 AND ${column('expiresAt')} > $2` +
    ` RETURNING ${column('value')} AS ${qi.quoteIdentifier('value')}`;
  const keyLimit = (() => {
    const type = (model.getAttributes() as Record<string, { type?: { _length?: number; options?: { length?: number } } }>).key?.type;
    return type?._length ?? type?.options?.length ?? 255;
  })();
  /** A key the column can hold and compare exactly; any other key is held by no record. */
  const usable = (key: string) => key.length <= keyLimit && !key.includes('\u0000');

  return {
    add: (key, value, expiresAt) =>
      guard(async () => {
        if (!usable(key)) throw new RangeError(`add: the key is longer than ${keyLimit} characters or contains a NUL character`);
        const now = new Date();
        await model.destroy({ where: { key, expiresAt: { [Op.lte]: now } } });
        try {
          await model.create({ key, value: encodeValue(value), expiresAt: new Date(expiresAt.getTime()) });
          return true;
        } catch (err) {
          if (err instanceof UniqueConstraintError) return false;
          throw err;
        }
      }),
    get: (key) =>
      guard(async () => {
        if (!usable(key)) return null;
        const row = (await model.findOne({
          where: { key, expiresAt: { [Op.gt]: new Date() } },
          attributes: ['key', 'value'],
          raw: true,
        })) as { key?: unknown; value?: unknown } | null;
        // Exact match whatever the column collation.
        return row && row.key === key && typeof row.value === 'string' ? decodeValue(row.value) : null;
      }),
    take: (key) =>
      guard(async () => {
        if (!usable(key)) return null;
        const now = new Date();
        if (returning) {
          const rows = await sequelize.query<{ value: unknown }>(takeSql, { type: QueryTypes.SELECT, bind: [key, toDate(now)] });
          const value = rows[0]?.value;
          return typeof value === 'string' ? decodeValue(value) : null;
        }
        return sequelize.transaction({ isolationLevel: Transaction.ISOLATION_LEVELS.READ_COMMITTED }, async (transaction) => {
          const row = await model.findOne({ where: { key, expiresAt: { [Op.gt]: now } }, lock: transaction.LOCK.UPDATE, transaction });
          if (!row) return null;
          const value = row.get('value');
          const removed = await model.destroy({ where: { key }, transaction });
          return removed === 1 && typeof value === 'string' ? decodeValue(value) : null;
        });
      }),
  };
}
