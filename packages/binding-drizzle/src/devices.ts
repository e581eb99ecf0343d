import type { DeviceCodeRecord, DeviceCodeStatus, DeviceCodeStore } from '@portcullis/core';
import { type Column, type SQL, sql } from 'drizzle-orm';
import { type Driver, guard, type Row } from './driver.js';
import {
  authTimeOf,
  fits,
  hasColumn,
  insertValues,
  isSet,
  MAX_ID,
  name,
  optDate,
  optStr,
  requireFits,
  selectList,
  str,
  toArray,
  toDate,
} from './stores.js';
import type { DeviceColumns, TableWith } from './tables.js';

/** Attempts of a poll's compare-and-set before giving up (each failed one means another caller changed the row). */
const POLL_ATTEMPTS = 200;

const DEVICE_READ = [
  'deviceCode',
  'userCode',
  'clientId',
  'scopes',
  'expiresAt',
  'interval',
  'lastPolledAt',
  'status',
  'userId',
  'grantId',
  'version',
] as const;

/** `true` when a driver error is a unique-key violation (PostgreSQL 23505, MySQL 1062, SQLite UNIQUE). */
function isUniqueViolation(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 6; depth++) {
    const { code, errno, message } = e as { code?: unknown; errno?: unknown; message?: unknown };
    if (code === '23505' || code === 'ER_DUP_ENTRY' || errno === 1062) return true;
    if (typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT')) return true;
    if (typeof message === 'string' && /UNIQUE constraint failed/.test(message)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * A `DeviceCodeStore` (RFC 8628) over a device table (keys: `DeviceColumns`). Every change is one
 * conditional `UPDATE` whose affected-row count picks the winner: a decision needs
 * `status = 'pending'`, a consume `status = 'approved'` (both with `expiresAt > now`), and a poll
 * the `version` it read (it re-reads and tries again when another caller changed the row in
 * between, at most 200 times). Every change adds 1 to `version`. A live request holds its user
 * code in `activeUserCode` (unique), which an expired request gives up on the next save. An
 * approval's `authTime` is kept in `authTime` (NULL: none; a table of your own without the column
 * keeps none).
 */
export function createDeviceCodeStore(driver: Driver, table: TableWith<DeviceColumns>): DeviceCodeStore {
  const keepsAuthTime = hasColumn(table, 'authTime');
  const authTime = keepsAuthTime ? name((table as unknown as Record<'authTime', Column>).authTime) : null;
  const read = selectList(table, keepsAuthTime ? [...DEVICE_READ, 'authTime'] : DEVICE_READ);
  const bump = sql`${name(table.version)} = ${name(table.version)} + 1`;
  const toRecord = (v: Row): DeviceCodeRecord => {
    const record: DeviceCodeRecord = {
      deviceCode: str(v.deviceCode),
      userCode: str(v.userCode),
      clientId: str(v.clientId),
      scopes: toArray(v.scopes),
      expiresAt: toDate(v.expiresAt),
      interval: Number(v.interval),
      lastPolledAt: isSet(v.lastPolledAt) ? toDate(v.lastPolledAt) : null,
      status: str(v.status) as DeviceCodeStatus,
      userId: optStr(v.userId),
      grantId: str(v.grantId),
    };
    const at = optDate(v.authTime);
    return at === undefined ? record : { ...record, authTime: at };
  };
  const one = async (query: SQL): Promise<Row | null> => (await driver.rows(query))[0] ?? null;
  /** The row of this device code and client, whatever its state; `null` when there is none. */
  const byDevice = async (clientId: string, deviceCode: string): Promise<Row | null> => {
    if (!fits(clientId, MAX_ID) || !fits(deviceCode, MAX_ID)) return null;
    const v = await one(
      sql`SELECT ${read} FROM ${table} WHERE ${name(table.deviceCode)} = ${deviceCode} AND ${name(table.clientId)} = ${clientId}`,
    );
    // Exact match whatever the column collation.
    return v && str(v.deviceCode) === deviceCode && str(v.clientId) === clientId ? v : null;
  };
  /** The live row holding this user code, or `null`. */
  const byUserCode = async (userCode: string): Promise<Row | null> => {
    if (!fits(userCode, 64)) return null;
    const now = driver.time(new Date());
    const v = await one(
      sql`SELECT ${read} FROM ${table} WHERE ${name(table.activeUserCode)} = ${userCode} AND ${name(table.expiresAt)} > ${now}`,
    );
    return v && str(v.userCode) === userCode ? v : null;
  };
  return {
    saveDeviceCode: (record) =>
      guard(async () => {
        requireFits(record.deviceCode, 'saveDeviceCode: deviceCode');
        requireFits(record.userCode, 'saveDeviceCode: userCode', 64);
        requireFits(record.clientId, 'saveDeviceCode: clientId');
        requireFits(record.userId, 'saveDeviceCode: userId');
        requireFits(record.grantId, 'saveDeviceCode: grantId');
        // An expired request gives its user code up (it keeps `userCode`, so its polls still say expired).
        const now = driver.time(new Date());
        await driver.run(
          sql`UPDATE ${table} SET ${name(table.activeUserCode)} = NULL, ${bump} WHERE ${name(table.activeUserCode)} = ${record.userCode} AND ${name(table.expiresAt)} <= ${now}`,
        );
        const row = {
          deviceCode: record.deviceCode,
          userCode: record.userCode,
          activeUserCode: record.userCode,
          clientId: record.clientId,
          scopes: JSON.stringify(record.scopes),
          expiresAt: driver.time(record.expiresAt),
          interval: record.interval,
          lastPolledAt: record.lastPolledAt === null ? null : driver.time(record.lastPolledAt),
          status: record.status,
          userId: record.userId,
          grantId: record.grantId,
          version: 0,
          ...(keepsAuthTime ? { authTime: authTimeOf(driver, record) } : {}),
        };
        try {
          await driver.run(sql`INSERT INTO ${table} ${insertValues(table, [row])}`);
        } catch (err) {
          // A live request holds this user code (the unique key refused the row).
          if (isUniqueViolation(err) && (await byUserCode(record.userCode)) !== null) return false;
          throw err;
        }
        return true;
      }),
    findDeviceCode: (userCode) =>
      guard(async () => {
        const v = await byUserCode(userCode);
        return v ? toRecord(v) : null;
      }),
    recordPoll: (clientId, deviceCode, polledAt) =>
      guard(async () => {
        for (let attempt = 0; attempt < POLL_ATTEMPTS; attempt++) {
          const v = await byDevice(clientId, deviceCode);
          if (!v) return null;
          const before = toRecord(v);
          const last = before.lastPolledAt;
          const tooSoon = last !== null && polledAt.getTime() - last.getTime() < before.interval * 1000;
          const changed = await driver.run(
            sql`UPDATE ${table} SET ${name(table.lastPolledAt)} = ${driver.time(polledAt)}, ${name(table.interval)} = ${tooSoon ? before.interval + 5 : before.interval}, ${bump} WHERE ${name(table.deviceCode)} = ${deviceCode} AND ${name(table.clientId)} = ${clientId} AND ${name(table.version)} = ${Number(v.version)}`,
          );
          if (changed === 1) return before;
        }
        throw new Error(`recordPoll: the device request changed under ${POLL_ATTEMPTS} attempts in a row`);
      }),
    decideDeviceCode: (userCode, decision) =>
      guard(async () => {
        const v = await byUserCode(userCode);
        if (v?.status !== 'pending') return null;
        if (decision.userId !== null) requireFits(decision.userId, 'decideDeviceCode: userId');
        const now = driver.time(new Date());
        // An approval's authTime, or none (a denial, an approval without it): NULL.
        const at = decision.approved && decision.authTime instanceof Date ? new Date(decision.authTime.getTime()) : undefined;
        const change = decision.approved
          ? sql`${name(table.status)} = 'approved', ${name(table.userId)} = ${decision.userId}, ${name(table.scopes)} = ${JSON.stringify(decision.scopes)}`
          : sql`${name(table.status)} = 'denied', ${name(table.userId)} = ${decision.userId}`;
        const setAuthTime = authTime === null ? sql`` : sql`, ${authTime} = ${at === undefined ? null : driver.time(at)}`;
        const changed = await driver.run(
          sql`UPDATE ${table} SET ${change}${setAuthTime}, ${bump} WHERE ${name(table.deviceCode)} = ${str(v.deviceCode)} AND ${name(table.status)} = 'pending' AND ${name(table.expiresAt)} > ${now}`,
        );
        if (changed !== 1) return null;
        const { authTime: _, ...before } = toRecord(v);
        if (!decision.approved) return { ...before, status: 'denied', userId: decision.userId };
        const approved: DeviceCodeRecord = { ...before, status: 'approved', userId: decision.userId, scopes: [...decision.scopes] };
        return at === undefined || authTime === null ? approved : { ...approved, authTime: at };
      }),
    consumeDeviceCode: (clientId, deviceCode) =>
      guard(async () => {
        const v = await byDevice(clientId, deviceCode);
        if (v?.status !== 'approved') return null;
        const record = toRecord(v);
        const now = new Date();
        if (record.expiresAt <= now) return null;
        // The atomic step: of N concurrent callers, exactly one changes the row.
        const stamp = driver.time(now);
        const changed = await driver.run(
          sql`UPDATE ${table} SET ${name(table.status)} = 'consumed', ${bump} WHERE ${name(table.deviceCode)} = ${deviceCode} AND ${name(table.clientId)} = ${clientId} AND ${name(table.status)} = 'approved' AND ${name(table.expiresAt)} > ${stamp}`,
        );
        return changed === 1 ? record : null;
      }),
  };
}
