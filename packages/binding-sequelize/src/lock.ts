import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { QueryTypes, type Sequelize, type Transaction } from 'sequelize';

/** Options of `withMigrationLock`. */
export interface MigrationLockOptions {
  /** How long to wait for another process to release the lock, in ms. Default 60 000. */
  timeoutMs?: number;
}

/** Thrown when another process held the migration lock for longer than the wait allowed. */
export class MigrationLockTimeoutError extends Error {
  readonly code = 'PORTCULLIS_MIGRATION_LOCK_TIMEOUT';
  constructor(timeoutMs: number, options?: { cause?: unknown }) {
    super(
      `Could not take the Portcullis migration lock within ${timeoutMs} ms: another process is migrating or seeding this database (or died holding a session open)`,
      options,
    );
    this.name = 'MigrationLockTimeoutError';
  }
}

const LOCK_NAME = 'portcullis-migrate';
/** The PostgreSQL advisory lock key: the first 8 bytes of SHA-256 of the name, signed. */
const PG_KEY = createHash('sha256').update(LOCK_NAME).digest().readBigInt64BE(0).toString();
const DEFAULT_TIMEOUT_MS = 60_000;

/** The Sequelize instances whose lock the current async context holds (for nested calls). */
const held = new AsyncLocalStorage<Set<Sequelize>>();

/**
 * MariaDB/MySQL lock names are server-wide, so the name carries the database's; MySQL refuses
 * names over 64 characters.
 */
function userLockName(database: string): string {
  const name = `${LOCK_NAME}:${database}`;
  return name.length <= 64 ? name : `${LOCK_NAME}:${createHash('sha256').update(database).digest('hex').slice(0, 40)}`;
}

/**
 * Takes the lock on one connection (a transaction's), runs `fn`, releases it. `fn` gets that
 * transaction when this call took the lock, `undefined` when an outer call holds it already or
 * the dialect needs no lock.
 */
export async function holdMigrationLock<T>(
  sequelize: Sequelize,
  options: MigrationLockOptions,
  fn: (transaction: Transaction | undefined) => Promise<T>,
): Promise<T> {
  const dialect = sequelize.getDialect();
  const outer = held.getStore();
  if (outer?.has(sequelize) || (dialect !== 'postgres' && dialect !== 'mariadb' && dialect !== 'mysql')) return fn(undefined);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new RangeError('withMigrationLock: timeoutMs must be a positive integer');
  const mine = new Set(outer);
  mine.add(sequelize);
  return sequelize.transaction(async (transaction) => {
    const run = async () => {
      try {
        return await held.run(mine, () => fn(transaction));
      } finally {
        mine.delete(sequelize);
      }
    };
    if (dialect === 'postgres') {
      // A transaction-level lock: released with the transaction, whatever happens to `fn`.
      await sequelize.query(`SET LOCAL lock_timeout = ${timeoutMs}`, { transaction, type: QueryTypes.RAW });
      try {
        await sequelize.query(`SELECT pg_advisory_xact_lock(${PG_KEY})`, { transaction, type: QueryTypes.SELECT });
      } catch (err) {
        // 55P03 lock_not_available: lock_timeout ran out.
        if ((err as { parent?: { code?: unknown } }).parent?.code === '55P03')
          throw new MigrationLockTimeoutError(timeoutMs, { cause: err });
        throw err;
      }
      await sequelize.query('SET LOCAL lock_timeout TO DEFAULT', { transaction, type: QueryTypes.RAW });
      return run();
    }
    const name = userLockName(sequelize.getDatabaseName());
    const [row] = await sequelize.query<{ got: number | string | null }>('SELECT GET_LOCK(?, ?) AS got', {
      transaction,
      type: QueryTypes.SELECT,
      replacements: [name, Math.ceil(timeoutMs / 1000)],
    });
    if (Number(row?.got) !== 1) throw new MigrationLockTimeoutError(timeoutMs);
    try {
      return await run();
    } finally {
      await sequelize.query('SELECT RELEASE_LOCK(?)', { transaction, type: QueryTypes.SELECT, replacements: [name] });
    }
  });
}

/**
 * Runs `fn` while holding the database-wide lock `migrate()` takes, so processes starting at the
 * same moment on one database run it one after the other: use it for your own seeding (or to
 * run `migrate()` and your seeding as one step; `migrate()` inside `fn` uses the lock already
 * held). PostgreSQL: a transaction-level advisory lock; MariaDB/MySQL: `GET_LOCK` on a name
 * carrying the database name; both taken and released on one pooled connection, while `fn`'s
 * own queries run on the pool's others (so the pool needs two connections, Sequelize's default
 * is five; with Sequelize CLS on, they run on the lock's connection). Other dialects (SQLite)
 * run `fn` directly. Waits at most `timeoutMs` (default 60 s) for another process, then throws
 * `MigrationLockTimeoutError`. Returns what `fn` returns.
 */
export function withMigrationLock<T>(sequelize: Sequelize, fn: () => Promise<T>, options: MigrationLockOptions = {}): Promise<T> {
  return holdMigrationLock(sequelize, options, () => fn());
}
