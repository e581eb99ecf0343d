/**
 * Schema upgrades `migrate()` applies to tables an older version created: the grant table's
 * `redirectUri` became nullable (`null`: the authorization request left `redirect_uri` out), and
 * tables made by 0.1 have it `NOT NULL`; and columns added since (the client table's
 * `resourceServer`, the grant and token tables' `resources` and `dpopJkt`, the token table's
 * `issuedAt`, the grant, token and device tables' `authTime`), which older tables lack and
 * `addNullableColumn` adds.
 */
import { randomBytes } from 'node:crypto';
import { type ModelAttributeColumnOptions, QueryTypes, type Sequelize, Transaction } from 'sequelize';

/**
 * Adds `column` to `table` when the table exists without it; a no-op otherwise. The column must
 * be nullable without a default, so adding it rewrites no row (PostgreSQL and SQLite change the
 * catalog only; MariaDB adds it instantly). Runs in `transaction` when given (the migration
 * lock's). Two SQLite processes may race here (SQLite has no migration lock): the loser's
 * "duplicate column" is ignored once the column is seen to exist.
 */
export async function addNullableColumn(
  sequelize: Sequelize,
  table: string,
  column: string,
  definition: ModelAttributeColumnOptions,
  transaction?: Transaction,
): Promise<void> {
  if (definition.allowNull === false || definition.defaultValue !== undefined) {
    throw new Error(`migrate: ${table}.${column} must be nullable without a default to be added to an existing table; add it yourself`);
  }
  const qi = sequelize.getQueryInterface();
  const has = async () => column in (await qi.describeTable(table, { transaction } as never));
  if (await has()) return;
  const { primaryKey: _, unique: __, references: ___, ...plain } = definition;
  try {
    await qi.addColumn(table, column, { ...plain, allowNull: true }, { transaction });
  } catch (err) {
    if (!(await has().catch(() => false))) throw err;
  }
}

/**
 * Makes `column` of `table` accept NULL when it does not yet; a no-op otherwise (and when the
 * table or column does not exist). PostgreSQL: `ALTER COLUMN ... DROP NOT NULL`. MariaDB/MySQL:
 * `MODIFY` restating the column's type, character set and collation. SQLite, which cannot change
 * a column's constraints, rebuilds the table in one transaction (see `sqliteRebuild`). Runs its
 * statements in `transaction` when given (the migration lock's).
 */
export async function allowNull(sequelize: Sequelize, table: string, column: string, transaction?: Transaction): Promise<void> {
  const dialect = sequelize.getDialect();
  if (dialect === 'postgres') return postgresAllowNull(sequelize, table, column, transaction);
  if (dialect === 'mariadb' || dialect === 'mysql') return mysqlAllowNull(sequelize, table, column, transaction);
  if (dialect === 'sqlite') return sqliteAllowNull(sequelize, table, column);
  throw new Error(`migrate: cannot make ${table}.${column} nullable on ${dialect}; run the ALTER TABLE yourself`);
}

async function postgresAllowNull(sequelize: Sequelize, table: string, column: string, transaction?: Transaction): Promise<void> {
  const qi = sequelize.getQueryInterface();
  const quoted = qi.quoteIdentifier(table);
  // to_regclass resolves the unqualified name through search_path, as CREATE TABLE did.
  const rows = await sequelize.query<{ notnull: boolean }>(
    'SELECT a.attnotnull AS notnull FROM pg_attribute a WHERE a.attrelid = to_regclass(:quoted) AND a.attname = :column AND NOT a.attisdropped',
    { type: QueryTypes.SELECT, replacements: { quoted, column }, transaction },
  );
  if (rows[0]?.notnull !== true) return;
  // Changes the catalog only: no rewrite, no scan.
  await sequelize.query(`ALTER TABLE ${quoted} ALTER COLUMN ${qi.quoteIdentifier(column)} DROP NOT NULL`, {
    type: QueryTypes.RAW,
    transaction,
  });
}

interface MysqlColumn {
  nullable: string;
  columnType: string;
  charset: string | null;
  collation: string | null;
}

async function mysqlAllowNull(sequelize: Sequelize, table: string, column: string, transaction?: Transaction): Promise<void> {
  const qi = sequelize.getQueryInterface();
  const [info] = await sequelize.query<MysqlColumn>(
    'SELECT IS_NULLABLE AS nullable, COLUMN_TYPE AS columnType, CHARACTER_SET_NAME AS charset, COLLATION_NAME AS collation ' +
      'FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table AND COLUMN_NAME = :column',
    { type: QueryTypes.SELECT, replacements: { table, column }, transaction },
  );
  if (info?.nullable !== 'NO') return;
  // MODIFY restates the whole column: keep its type and collation exactly (the table's binary
  // collation makes lookups exact). The binding gives this column no default or comment.
  const word = /^\w+$/;
  if (
    !/^\w+(\(\d+\))?$/.test(info.columnType) ||
    (info.charset !== null && !word.test(info.charset)) ||
    (info.collation !== null && !word.test(info.collation))
  ) {
    throw new Error(`migrate: ${table}.${column} has an unexpected type (${info.columnType}); make it nullable yourself`);
  }
  const charset = info.charset && info.collation ? ` CHARACTER SET ${info.charset} COLLATE ${info.collation}` : '';
  await sequelize.query(
    `ALTER TABLE ${qi.quoteIdentifier(table)} MODIFY COLUMN ${qi.quoteIdentifier(column)} ${info.columnType}${charset} NULL`,
    {
      type: QueryTypes.RAW,
      transaction,
    },
  );
}

interface SqliteColumn {
  cid: number;
  name: string;
  type: string;
  notnull: number;
  dflt_value: unknown;
  pk: number;
}

const tableInfo = (sequelize: Sequelize, table: string, transaction?: Transaction) =>
  sequelize.query<SqliteColumn>('SELECT cid, name, type, "notnull", dflt_value, pk FROM pragma_table_info(:table) ORDER BY cid', {
    type: QueryTypes.SELECT,
    replacements: { table },
    transaction,
  });

async function sqliteAllowNull(sequelize: Sequelize, table: string, column: string): Promise<void> {
  const before = await tableInfo(sequelize, table);
  if (!before.some((c) => c.name === column && c.notnull === 1)) return;
  // IMMEDIATE: takes the write lock at once, so a second process re-checks after the first is done.
  await sequelize.transaction({ type: Transaction.TYPES.IMMEDIATE }, (transaction) => sqliteRebuild(sequelize, table, column, transaction));
}

/**
 * SQLite keeps a column's constraints in the table's `CREATE TABLE` text and cannot alter them,
 * so the table is rebuilt the way SQLite's documentation describes (ALTER TABLE, "making other
 * kinds of table schema changes"), all in one transaction: a new table from the stored
 * `CREATE TABLE` text with only this column's `NOT NULL` taken out (every other column, key,
 * collation and table option as it was), checked column by column against the old one; the rows
 * copied; the old table dropped and the new one renamed to its name; its indexes and triggers
 * created again from their stored text; the row count checked. Any surprise throws and rolls all
 * of it back, leaving the table as it was. Refuses (before changing anything) when foreign keys
 * are enforced and another table references this one, since dropping it would fire their
 * `ON DELETE` actions.
 */
async function sqliteRebuild(sequelize: Sequelize, table: string, column: string, transaction: Transaction): Promise<void> {
  const qi = sequelize.getQueryInterface();
  const select = <T extends object>(sql: string, replacements: Record<string, unknown> = {}) =>
    sequelize.query<T>(sql, { type: QueryTypes.SELECT, replacements, transaction });
  const run = (sql: string) => sequelize.query(sql, { type: QueryTypes.RAW, transaction });
  const fail = (why: string) => new Error(`migrate: cannot make ${table}.${column} nullable: ${why}; nothing was changed`);

  const before = await tableInfo(sequelize, table, transaction);
  if (!before.some((c) => c.name === column && c.notnull === 1)) return; // another process did it
  const [created] = await select<{ sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :table", { table });
  if (!created) return;
  const [fk] = await select<{ foreign_keys: number }>('PRAGMA foreign_keys');
  if (fk?.foreign_keys) {
    const referencing = await select<{ name: string }>(
      `SELECT DISTINCT m.name AS name FROM sqlite_master m, pragma_foreign_key_list(m.name) f
       WHERE m.type = 'table' AND m.name <> :table AND f."table" = :table COLLATE NOCASE`,
      { table },
    );
    if (referencing.length > 0) throw fail(`the table(s) ${referencing.map((r) => r.name).join(', ')} reference it by foreign key`);
  }
  const definition = withoutNotNull(created.sql, column);
  if (definition === null) throw fail('its CREATE TABLE text was not understood');
  const dependents = await select<{ sql: string }>(
    "SELECT sql FROM sqlite_master WHERE tbl_name = :table AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name",
    { table },
  );
  const [{ n: rowsBefore } = { n: -1 }] = await select<{ n: number }>(`SELECT count(*) AS n FROM ${qi.quoteIdentifier(table)}`);

  const temporary = `${table}_rebuild_${randomBytes(4).toString('hex')}`;
  await run(`CREATE TABLE ${qi.quoteIdentifier(temporary)} ${definition}`);
  const expected = before.map((c) => (c.name === column ? { ...c, notnull: 0 } : c));
  if (JSON.stringify(await tableInfo(sequelize, temporary, transaction)) !== JSON.stringify(expected)) {
    throw fail('the rebuilt table would differ in more than that column');
  }
  const columns = before.map((c) => qi.quoteIdentifier(c.name)).join(', ');
  await run(`INSERT INTO ${qi.quoteIdentifier(temporary)} (${columns}) SELECT ${columns} FROM ${qi.quoteIdentifier(table)}`);
  await run(`DROP TABLE ${qi.quoteIdentifier(table)}`);
  // Legacy mode renames without rewriting or re-checking views and triggers elsewhere: they name
  // `table`, which exists again once the rename is done (and would not before, failing it).
  const [legacy] = await select<{ legacy_alter_table: number }>('PRAGMA legacy_alter_table');
  await run('PRAGMA legacy_alter_table = ON');
  try {
    await run(`ALTER TABLE ${qi.quoteIdentifier(temporary)} RENAME TO ${qi.quoteIdentifier(table)}`);
  } finally {
    await run(`PRAGMA legacy_alter_table = ${legacy?.legacy_alter_table ? 'ON' : 'OFF'}`);
  }
  for (const { sql } of dependents) await run(sql);
  const [{ n: rowsAfter } = { n: -2 }] = await select<{ n: number }>(`SELECT count(*) AS n FROM ${qi.quoteIdentifier(table)}`);
  if (Number(rowsAfter) !== Number(rowsBefore)) throw fail(`${rowsBefore} rows before, ${rowsAfter} after`);
  if (JSON.stringify(await tableInfo(sequelize, table, transaction)) !== JSON.stringify(expected)) throw fail('the table changed shape');
}

interface Token {
  text: string;
  start: number;
  end: number;
}

/** The SQL tokens of `text` from `from` to `to`: words, quoted names and strings, parenthesized groups, single characters. */
function tokens(text: string, from: number, to: number): Token[] | null {
  const out: Token[] = [];
  let i = from;
  while (i < to) {
    const ch = text[i] as string;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const start = i;
    if (ch === '"' || ch === "'" || ch === '`' || ch === '[') {
      const end = closingQuote(text, i, to);
      if (end === null) return null;
      i = end + 1;
    } else if (ch === '(') {
      const end = closingParen(text, i, to);
      if (end === null) return null;
      i = end + 1;
    } else if (/\w/.test(ch)) {
      while (i < to && /\w/.test(text[i] as string)) i++;
    } else if (ch === '-' && text[i + 1] === '-') {
      while (i < to && text[i] !== '\n') i++;
      continue;
    } else if (ch === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end < 0 || end + 2 > to) return null;
      i = end + 2;
      continue;
    } else i++;
    out.push({ text: text.slice(start, i), start, end: i });
  }
  return out;
}

/** The index of the quote closing the one at `open` (a doubled quote inside is part of the text); `null` when unclosed. */
function closingQuote(text: string, open: number, to: number): number | null {
  const close = text[open] === '[' ? ']' : text[open];
  for (let i = open + 1; i < to; i++) {
    if (text[i] !== close) continue;
    if (close !== ']' && text[i + 1] === close) i++;
    else return i;
  }
  return null;
}

/** The index of the `)` closing the `(` at `open`, skipping quoted text; `null` when unbalanced. */
function closingParen(text: string, open: number, to: number): number | null {
  let depth = 0;
  for (let i = open; i < to; i++) {
    const ch = text[i];
    if (ch === '"' || ch === "'" || ch === '`' || ch === '[') {
      const end = closingQuote(text, i, to);
      if (end === null) return null;
      i = end;
    } else if (ch === '(') depth++;
    else if (ch === ')' && --depth === 0) return i;
  }
  return null;
}

function unquote(name: string): string {
  const first = name[0];
  if (first === '[') return name.slice(1, -1);
  if (first === '"' || first === '`' || first === "'") return name.slice(1, -1).replaceAll(`${first}${first}`, first);
  return name;
}

const TABLE_CONSTRAINT = new Set(['constraint', 'primary', 'unique', 'check', 'foreign']);
const word = (t: Token | undefined, w: string) => t !== undefined && t.text.toLowerCase() === w;

/**
 * The part of a stored `CREATE TABLE` text from its column list on (`(...)` and any table
 * options), with the `NOT NULL` constraint of `column` taken out (with its `CONSTRAINT name`
 * and `ON CONFLICT` clause, if any). `null` when the column or exactly one such constraint is
 * not found.
 */
export function withoutNotNull(createSql: string, column: string): string | null {
  const all = tokens(createSql, 0, createSql.length);
  const list = all?.find((t) => t.text.startsWith('('));
  if (!list) return null;
  // The column definitions: split the list's inside at top-level commas.
  const inside = tokens(createSql, list.start + 1, list.end - 1);
  if (!inside) return null;
  const definitions: Token[][] = [[]];
  for (const t of inside) {
    if (t.text === ',') definitions.push([]);
    else definitions.at(-1)?.push(t);
  }
  const target = definitions.filter((d) => {
    const first = d[0];
    if (!first) return false;
    const bare = /^\w/.test(first.text);
    if (bare && TABLE_CONSTRAINT.has(first.text.toLowerCase())) return false;
    return unquote(first.text).toLowerCase() === column.toLowerCase();
  });
  if (target.length !== 1) return null;
  const def = target[0] as Token[];
  const found: { from: number; to: number }[] = [];
  for (let i = 1; i < def.length - 1; i++) {
    if (!word(def[i], 'not') || !word(def[i + 1], 'null')) continue;
    let from = (def[i] as Token).start;
    let to = (def[i + 1] as Token).end;
    if (i >= 3 && word(def[i - 2], 'constraint')) from = (def[i - 2] as Token).start;
    if (word(def[i + 2], 'on') && word(def[i + 3], 'conflict') && def[i + 4]) to = (def[i + 4] as Token).end;
    found.push({ from, to });
  }
  if (found.length !== 1) return null;
  const { from, to } = found[0] as { from: number; to: number };
  return `${createSql.slice(list.start, from)}${createSql.slice(to)}`.trimEnd();
}
