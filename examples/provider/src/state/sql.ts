import type { Model, ModelStatic, Sequelize } from 'sequelize';
import type { KeyValue } from './key-value.js';

/** The table the shared state lives in on a SQL database. Expiry is ms since the epoch (no time zones). */
export const STATE_TABLE = 'portcullis_app_state';

/**
 * The shared app state's records in one table of the SQL database (PostgreSQL, MariaDB, SQLite),
 * through Sequelize. Reads ignore expired rows; `purgeExpired` deletes them. A take is a read then
 * a conditional DELETE whose row count picks the one winner; a count is a conditional UPDATE, or an
 * INSERT when there is no live row.
 * @param exclusive runs the table's creation under the database's migration lock, so that
 *   processes starting together do not race on `CREATE TABLE`.
 */
export async function openSqlKeyValue(
  sequelize: Sequelize,
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>,
): Promise<KeyValue & { purgeExpired(batchSize?: number): Promise<number> }> {
  const { DataTypes, Op, QueryTypes, UniqueConstraintError } = await import('sequelize');
  const Row: ModelStatic<Model> = sequelize.define(
    'portcullisAppState',
    {
      key: { type: DataTypes.STRING(191), primaryKey: true },
      value: { type: DataTypes.TEXT, allowNull: true },
      count: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      expiresAt: { type: DataTypes.BIGINT, allowNull: false },
    },
    { tableName: STATE_TABLE, timestamps: false, indexes: [{ fields: ['expiresAt'] }] },
  );
  await exclusive(() => Row.sync());
  const plusOne = sequelize.literal(`${sequelize.getQueryInterface().quoteIdentifier('count')} + 1`);
  const live = (key: string) => ({ key, expiresAt: { [Op.gt]: Date.now() } });
  const row = async (key: string) =>
    (await Row.findOne({ where: live(key), raw: true })) as {
      value: string | null;
      count: number;
      expiresAt: string | number;
    } | null;
  /** Inserts a row where there is no live one; `false` when a live one is there. */
  const insert = async (key: string, fields: { value: string | null; count: number; expiresAt: number }): Promise<boolean> => {
    for (let i = 0; i < 3; i++) {
      try {
        await Row.create({ key, ...fields });
        return true;
      } catch (err) {
        if (!(err instanceof UniqueConstraintError)) throw err;
        // An expired row in the way goes; a live one stays.
        const n = await Row.destroy({ where: { key, expiresAt: { [Op.lte]: Date.now() } } });
        if (n === 0) return false;
      }
    }
    return false;
  };
  return {
    description: `database (${sequelize.getDialect()})`,
    async get(key) {
      return (await row(key))?.value ?? null;
    },
    async set(key, value, ttlMs) {
      await Row.upsert({ key, value, count: 0, expiresAt: Date.now() + Math.ceil(ttlMs) });
    },
    add: (key, value, ttlMs) => insert(key, { value, count: 0, expiresAt: Date.now() + Math.ceil(ttlMs) }),
    async take(key) {
      const r = await row(key);
      if (!r) return null;
      const n = await Row.destroy({ where: live(key) });
      return n === 1 ? r.value : null;
    },
    async delete(key) {
      await Row.destroy({ where: { key } });
    },
    async increment(key, windowMs) {
      for (let i = 0; i < 5; i++) {
        const [n] = await Row.update({ count: plusOne }, { where: live(key) });
        if (n === 0) {
          const resetAt = Date.now() + Math.ceil(windowMs);
          if (await insert(key, { value: null, count: 1, expiresAt: resetAt })) return { count: 1, resetAt };
          continue; // another caller created it meanwhile: count on it
        }
        const r = await row(key);
        if (r) return { count: r.count, resetAt: Number(r.expiresAt) };
      }
      throw new Error('the counter could not be written');
    },
    async counter(key) {
      const r = await row(key);
      return r ? { count: r.count, resetAt: Number(r.expiresAt) } : null;
    },
    async ping() {
      // As a SELECT: a raw query's result on MariaDB (mariadb 3.x driver) makes Sequelize throw.
      await sequelize.query('SELECT 1', { type: QueryTypes.SELECT });
    },
    close: async () => {}, // the storage closes the connection
    async purgeExpired(batchSize = 1000) {
      const old = (await Row.findAll({
        attributes: ['key'],
        where: { expiresAt: { [Op.lte]: Date.now() } },
        limit: batchSize,
        raw: true,
      })) as unknown as {
        key: string;
      }[];
      if (old.length === 0) return 0;
      return Row.destroy({ where: { key: old.map((r) => r.key), expiresAt: { [Op.lte]: Date.now() } } });
    },
  };
}
