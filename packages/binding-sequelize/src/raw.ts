import { createHash } from 'node:crypto';
import type { Sequelize } from 'sequelize';
import type { PortcullisModel } from './models.js';

/**
 * The hot paths of the stores (client lookup, token insert and lookup, code and refresh-token
 * consumption) as SQL written once per store, run on a connection of Sequelize's own pool
 * through the dialect's driver: no model instances, validation, hooks or query generation per
 * call. Used only where it gives what the model would (see `rawAccess`); otherwise the stores go
 * through the model as before. Sequelize keeps the schema, migrations and everything else.
 */
export interface RawAccess {
  /** `$n` on PostgreSQL, `?` elsewhere (n counts from 1). */
  param(n: number): string;
  /** A quoted column name. */
  column(field: string): string;
  /** The quoted table name (with its schema, if any). */
  readonly table: string;
  /** A date as this dialect's column takes it (what Sequelize would send). */
  date(value: Date): unknown;
  /** The rows of a SELECT, as plain objects keyed by column name. */
  select(sql: string, values: readonly unknown[]): Promise<Record<string, unknown>[]>;
  /** Runs an INSERT/UPDATE; resolves with the number of rows it changed. */
  write(sql: string, values: readonly unknown[]): Promise<number>;
}

interface ConnectionManager {
  getConnection(options?: { type?: string }): Promise<unknown>;
  releaseConnection(connection: unknown): void;
}
interface PgConnection {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
}
interface MariadbConnection {
  query(sql: string, values: unknown[]): Promise<unknown>;
}
interface SqliteConnection {
  all(sql: string, values: unknown[], cb: (err: Error | null, rows: Record<string, unknown>[]) => void): void;
  run(sql: string, values: unknown[], cb: (this: { changes: number }, err: Error | null) => void): void;
}
interface DateType {
  stringify?: (value: Date, options: { timezone?: string }) => unknown;
}

/** The name of a PostgreSQL prepared statement for this text (prepared once per connection). */
const statementNames = new Map<string, string>();
function statementName(text: string): string {
  let name = statementNames.get(text);
  if (!name) {
    name = `portcullis_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    statementNames.set(text, name);
  }
  return name;
}

/** Model hooks that a direct statement would skip. */
function hasHooks(model: PortcullisModel): boolean {
  const hooks = (model.options as { hooks?: Record<string, unknown> }).hooks ?? {};
  const globalHooks = (model.sequelize as unknown as { options?: { hooks?: Record<string, unknown> } } | undefined)?.options?.hooks ?? {};
  const any = (h: Record<string, unknown>) => Object.values(h).some((v) => (Array.isArray(v) ? v.length > 0 : Boolean(v)));
  return any(hooks) || any(globalHooks);
}

/**
 * Direct access for `model`, or `null` when the model must be used as is: a dialect other than
 * PostgreSQL, MariaDB or SQLite; hooks on the model or the Sequelize instance; a paranoid model
 * or a default scope; managed transactions (CLS), which the store's statements would have to
 * join. Logging, when on, still gets every statement.
 */
export function rawAccess(model: PortcullisModel, dateAttribute?: string): RawAccess | null {
  const sequelize = model.sequelize as Sequelize | undefined;
  if (!sequelize) return null;
  const dialect = sequelize.getDialect();
  if (dialect !== 'postgres' && dialect !== 'mariadb' && dialect !== 'sqlite') return null;
  const options = model.options as { paranoid?: boolean; defaultScope?: Record<string, unknown> };
  if (options.paranoid || Object.keys(options.defaultScope ?? {}).length > 0 || hasHooks(model)) return null;
  if ((sequelize.constructor as { _cls?: unknown })._cls) return null;
  const manager = (sequelize as unknown as { connectionManager: ConnectionManager }).connectionManager;
  const generator = (
    sequelize.getQueryInterface() as unknown as {
      queryGenerator: { quoteIdentifier(name: string): string; quoteTable(table: unknown): string };
    }
  ).queryGenerator;
  const table = generator.quoteTable(model.getTableName());
  const settings = (sequelize as unknown as { options: { logging?: unknown; timezone?: string } }).options;
  const logging = settings.logging;
  const log = typeof logging === 'function' ? (sql: string) => (logging as (sql: string) => void)(`Executing (default): ${sql}`) : null;
  const timezone = settings.timezone;
  const dateType = dateAttribute ? ((model.getAttributes() as Record<string, { type?: DateType }>)[dateAttribute]?.type ?? null) : null;
  // PostgreSQL takes a Date as is (the driver sends it with its offset); MariaDB and SQLite get
  // the text Sequelize itself would send, so comparisons with stored values agree.
  const date =
    dialect === 'postgres' || typeof dateType?.stringify !== 'function'
      ? (value: Date) => value
      : (value: Date) => (dateType.stringify as NonNullable<DateType['stringify']>)(value, { timezone });

  /** Runs `fn` on a pooled connection and gives the connection back. */
  const withConnection = async <T>(type: string, fn: (connection: unknown) => Promise<T>): Promise<T> => {
    const connection = await manager.getConnection({ type });
    try {
      return await fn(connection);
    } finally {
      manager.releaseConnection(connection);
    }
  };

  let select: RawAccess['select'];
  let write: RawAccess['write'];
  if (dialect === 'postgres') {
    select = (sql, values) => {
      log?.(sql);
      return withConnection(
        'SELECT',
        async (c) => (await (c as PgConnection).query({ name: statementName(sql), text: sql, values: [...values] })).rows,
      );
    };
    write = (sql, values) => {
      log?.(sql);
      return withConnection(
        'UPDATE',
        async (c) => (await (c as PgConnection).query({ name: statementName(sql), text: sql, values: [...values] })).rowCount ?? 0,
      );
    };
  } else if (dialect === 'mariadb') {
    select = (sql, values) => {
      log?.(sql);
      return withConnection('SELECT', async (c) => [
        ...((await (c as MariadbConnection).query(sql, [...values])) as Record<string, unknown>[]),
      ]);
    };
    write = (sql, values) => {
      log?.(sql);
      return withConnection('UPDATE', async (c) =>
        Number(((await (c as MariadbConnection).query(sql, [...values])) as { affectedRows?: unknown }).affectedRows ?? 0),
      );
    };
  } else {
    select = (sql, values) => {
      log?.(sql);
      return withConnection(
        'SELECT',
        (c) =>
          new Promise((resolve, reject) =>
            (c as SqliteConnection).all(sql, [...values], (err, rows) => (err ? reject(err) : resolve(rows))),
          ),
      );
    };
    write = (sql, values) => {
      log?.(sql);
      return withConnection(
        'UPDATE',
        (c) =>
          new Promise((resolve, reject) =>
            (c as SqliteConnection).run(sql, [...values], function (err) {
              if (err) reject(err);
              else resolve(this.changes);
            }),
          ),
      );
    };
  }
  return {
    param: dialect === 'postgres' ? (n) => `$${n}` : () => '?',
    column: (field) => generator.quoteIdentifier(field),
    table,
    date,
    select,
    write,
  };
}

interface AttributeInfo {
  type?: { key?: string };
  field?: string;
  get?: unknown;
  set?: unknown;
  allowNull?: boolean;
  defaultValue?: unknown;
  primaryKey?: boolean;
  autoIncrement?: boolean;
}

/** How the direct statements read and write each attribute they touch. */
export type ColumnKind = 'text' | 'json' | 'date' | 'flag';

const TEXT_TYPES = new Set(['STRING', 'CHAR', 'TEXT']);

/** Whether the store can read and write `attribute` directly as `kind` (and `jsonTextGetter` names this binding's JSON accessors). */
function plainColumn(info: AttributeInfo | undefined, kind: ColumnKind, jsonTextGetter: (get: unknown) => boolean): boolean {
  if (!info) return false;
  const key = info.type?.key ?? '';
  const accessors = info.get === undefined && info.set === undefined;
  switch (kind) {
    case 'text':
      return TEXT_TYPES.has(key) && accessors;
    case 'json':
      // JSON text: no accessors, or this binding's pair (a getter that parses, a setter that stringifies).
      return TEXT_TYPES.has(key) && (accessors || jsonTextGetter(info.get));
    case 'date':
      return key === 'DATE' && accessors;
    case 'flag':
      return (key === 'BOOLEAN' || TEXT_TYPES.has(key) || key === 'INTEGER' || key === 'TINYINT') && accessors;
  }
}

/**
 * The column name of each attribute in `columns` when the store may read and write all of them
 * directly, or `null`. With `exact`, the model must have no other attributes (an insert then
 * writes every column, so no default of Sequelize's is skipped).
 */
export function columnsOf(
  model: PortcullisModel,
  columns: Record<string, ColumnKind>,
  jsonTextGetter: (get: unknown) => boolean,
  { exact = false, optional = [] as readonly string[] } = {},
): Record<string, string> | null {
  const attrs = model.getAttributes() as Record<string, AttributeInfo>;
  const fields: Record<string, string> = {};
  for (const [name, kind] of Object.entries(columns)) {
    const info = attrs[name];
    if (!info) {
      if (optional.includes(name)) continue;
      return null;
    }
    if (!plainColumn(info, kind, jsonTextGetter)) return null;
    fields[name] = info.field ?? name;
  }
  if (exact && Object.keys(attrs).some((a) => !(a in columns))) return null;
  return fields;
}
