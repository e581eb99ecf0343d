import { type ModelAttributeColumnOptions, Op, type Sequelize, type WhereOptions } from 'sequelize';
import { holdMigrationLock } from './lock.js';
import {
  ADDED_COLUMNS,
  columnsFor,
  indexesFor,
  type PortcullisModel,
  type PortcullisModels,
  type SchemaOptions,
  type TableKey,
  tableNamesFor,
  tableOptionsFor,
} from './models.js';
import { guardStoreCall } from './stores.js';
import { addNullableColumn, allowNull } from './upgrade.js';

/** Options of `migrate`. */
export interface MigrateOptions extends SchemaOptions {
  /**
   * The tables to create; default all seven (`key`: the signing keys of JWT access tokens;
   * `device`: device authorization requests, RFC 8628; `ephemeral`: pushed authorization
   * requests and DPoP proof ids). Leave
   * out `client`/`user` when you bring your own.
   */
  tables?: readonly TableKey[];
  /** How long to wait for another process's migration lock, in ms. Default 60 000. */
  lockTimeoutMs?: number;
}

/**
 * Creates the tables and indexes of the default models if they do not exist yet, through the
 * query interface (no `sync()`): safe to run on every deploy, from several processes at once,
 * and from a sequelize-cli or umzug migration. Creates exactly what `defineModels` + `sync()`
 * would, index names included. On PostgreSQL and MariaDB/MySQL it holds the database-wide lock
 * of `withMigrationLock` throughout (its statements run on the lock's connection, in its
 * transaction on PostgreSQL), waiting at most `lockTimeoutMs` for another process, then
 * throwing `MigrationLockTimeoutError`; called inside `withMigrationLock`, it uses that lock.
 * Also upgrades tables an older version created: a grant table whose `redirectUri` is
 * `NOT NULL` (0.1) is made to accept NULL, keeping its rows (on SQLite by rebuilding the table
 * in one transaction; see the README), a client table without the `resourceServer` column
 * gets it (nullable: existing clients stay ordinary clients), as does one without the columns of
 * dynamic client registration (`resources`, `requirePushedAuthorizationRequests`,
 * `dpopBoundAccessTokens`, `name`, `uri`, `logoUri`, `clientSecretExpiresAt`,
 * `secretNeverExpires`, `registration`, and `registeredAt` and `firstUsedAt` for the purge of
 * never-used registrations; existing clients read without those fields, and clients registered
 * before `registeredAt` existed are never purged), and grant and token tables without
 * the `resources` column (RFC 8707) and the `dpopJkt` column (RFC 9449) get them (nullable:
 * existing codes and tokens name no resource and are bound to no DPoP key), as do grant, token
 * and device tables without the `authTime` column (nullable: existing codes, refresh tokens and
 * device requests carry no `auth_time`). A database made
 * before the signing-key, device-code or ephemeral table existed gets them, the other tables and
 * their rows left as they are.
 */
export async function migrate(sequelize: Sequelize, options: MigrateOptions = {}): Promise<void> {
  const qi = sequelize.getQueryInterface();
  const names = tableNamesFor(options);
  await holdMigrationLock(sequelize, { timeoutMs: options.lockTimeoutMs }, async (transaction) => {
    for (const table of options.tables ?? (['client', 'user', 'grant', 'token', 'key', 'device', 'ephemeral'] as const)) {
      const name = names[table];
      const columns = { ...columnsFor(table, sequelize.getDialect()), ...options.extend?.[table] };
      await qi.createTable(name, columns, { ...tableOptionsFor(sequelize), transaction });
      // Tables made by 0.1 have `redirectUri` NOT NULL; it now holds NULL when the authorization
      // request left redirect_uri out. (Unless `extend` keeps it NOT NULL on purpose.)
      const redirectUri = table === 'grant' ? (columns.redirectUri as { allowNull?: boolean; field?: string } | undefined) : undefined;
      if (redirectUri && redirectUri.allowNull !== false) await allowNull(sequelize, name, redirectUri.field ?? 'redirectUri', transaction);
      // Columns added since a table's first version (client `resourceServer`; grant and token
      // `resources`, RFC 8707, and `dpopJkt`, RFC 9449; token `issuedAt`; grant, token and device
      // `authTime`): tables made before them lack them.
      for (const added of ADDED_COLUMNS[table]) {
        const column = (columns as Record<string, unknown>)[added];
        if (column && typeof column === 'object' && 'type' in column) {
          const definition = column as ModelAttributeColumnOptions;
          await addNullableColumn(sequelize, name, definition.field ?? added, definition, transaction);
        }
      }
      const existing = new Set(((await qi.showIndex(name, { transaction })) as { name?: string }[]).map((i) => i.name));
      for (const index of indexesFor(table, name)) {
        if (!existing.has(index.name)) await qi.addIndex(name, { ...index, transaction });
      }
    }
  });
}

/** Options of `purgeExpired`. */
export interface PurgeOptions {
  /** Rows deleted per statement. Default 1000. */
  batchSize?: number;
  /** Rows whose `expiresAt` is at or before this are deleted. Default: now. */
  now?: Date;
}

async function purgeModel(model: PortcullisModel, batchSize: number, now: Date): Promise<number> {
  const keys = model.primaryKeyAttributes;
  const expired = { expiresAt: { [Op.lte]: now } };
  let total = 0;
  for (;;) {
    const rows = (await model.findAll({ attributes: [...keys], where: expired, limit: batchSize, raw: true })) as unknown as Record<
      string,
      unknown
    >[];
    if (rows.length === 0) break;
    const match: WhereOptions = keys.length === 1 ? { [keys[0] as string]: rows.map((r) => r[keys[0] as string]) } : { [Op.or]: rows };
    total += await model.destroy({ where: { [Op.and]: [expired, match] } });
    if (rows.length < batchSize) break;
  }
  return total;
}

/**
 * Deletes expired grants, tokens, device requests and ephemeral records (consumed markers and
 * revoked rows included, once past `expiresAt`) in batches of `batchSize`, so no statement locks much at once. Run it from a
 * timer or a cron job. Returns how many rows were deleted.
 */
export async function purgeExpired(
  models: Partial<Pick<PortcullisModels, 'grant' | 'token' | 'device' | 'ephemeral'>>,
  options: PurgeOptions = {},
): Promise<number> {
  const batchSize = options.batchSize ?? 1000;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('purgeExpired: batchSize must be a positive integer');
  const now = options.now ?? new Date();
  return guardStoreCall(async () => {
    let total = 0;
    for (const model of [models.grant, models.token, models.device, models.ephemeral])
      if (model) total += await purgeModel(model, batchSize, now);
    return total;
  });
}
