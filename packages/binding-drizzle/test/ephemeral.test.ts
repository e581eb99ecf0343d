/**
 * Core's ephemeral store (pushed authorization requests, DPoP proof ids) on every database: the
 * testkit's contract suite, what lands in the table, races over an expired holder, and purging.
 */
import { ephemeralStoreSuite, makeEphemeralKey } from '@portcullis/binding-testkit';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDrizzleStores, escapeEphemeralValue, purgeExpired, unescapeEphemeralValue } from '../src/index.js';
import { DIALECTS, openDatabase, type TestDatabase } from './databases.js';

const t = { describe, it, beforeAll, afterAll };

for (const dialect of DIALECTS) {
  let db: TestDatabase | undefined;
  ephemeralStoreSuite(t, {
    name: `drizzle ${dialect}`,
    create: async () => {
      db = await openDatabase(dialect);
      return createDrizzleStores(db.options).ephemeral;
    },
    destroy: async () => {
      await db?.close();
    },
  });
}

describe('escapeEphemeralValue', () => {
  it('round-trips text holding NUL, backslashes and look-alikes of the escapes, with no NUL left', () => {
    for (const value of ['', 'plain', '\\', '\\0', '\u0000', '\\\u0000\\\\0', 'a\u00000b\\n', '😀\u0000é', '\\\\\\']) {
      const stored = escapeEphemeralValue(value);
      expect(stored.includes('\u0000'), JSON.stringify(value)).toBe(false);
      expect(unescapeEphemeralValue(stored), JSON.stringify(value)).toBe(value);
    }
    expect(escapeEphemeralValue('{"a":1}'), 'JSON without backslash is stored as it is').toBe('{"a":1}');
    expect(escapeEphemeralValue('a\u0000\\')).toBe('a\\0\\\\');
  });
});

for (const dialect of DIALECTS) {
  describe(`${dialect}: ephemeral rows`, () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await openDatabase(dialect);
    });
    afterAll(async () => {
      await db?.close();
    });
    const row = async (key: string) =>
      (await db.rows(sql`SELECT record_key, value FROM portcullis_ephemeral WHERE record_key = ${key}`))[0] as
        | { record_key: string; value: string }
        | undefined;

    it('keeps the value escaped in portcullis_ephemeral and gives back text that looks like an escape as it was', async () => {
      const { ephemeral } = createDrizzleStores(db.options);
      const key = makeEphemeralKey();
      const value = 'a\u0000b\\0c\\\\';
      expect(await ephemeral.add(key, value, new Date(Date.now() + 60_000))).toBe(true);
      expect((await row(key))?.value).toBe('a\\0b\\\\0c\\\\\\\\');
      expect(await ephemeral.get(key)).toBe(value);
      expect(await ephemeral.take(key)).toBe(value);
      expect(await row(key), 'take removes the row').toBeUndefined();
    });

    it('of 12 concurrent adds over an expired holder exactly one wins, and its value is held', async () => {
      const { ephemeral } = createDrizzleStores(db.options);
      const key = makeEphemeralKey();
      expect(await ephemeral.add(key, 'old', new Date(Date.now() + 50))).toBe(true);
      await new Promise((r) => setTimeout(r, 120));
      const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => ephemeral.add(key, `v${i}`, new Date(Date.now() + 60_000))));
      const winners = answers.flatMap((a, i) => (a ? [i] : []));
      expect(winners).toHaveLength(1);
      expect(await ephemeral.get(key)).toBe(`v${winners[0]}`);
    });

    it('of 12 concurrent takes of records re-added with the same value, each record goes to one caller', async () => {
      const { ephemeral } = createDrizzleStores(db.options);
      const key = makeEphemeralKey();
      let taken = 0;
      for (let round = 0; round < 3; round++) {
        expect(await ephemeral.add(key, 'same', new Date(Date.now() + 60_000))).toBe(true);
        const answers = await Promise.all(Array.from({ length: 12 }, () => ephemeral.take(key)));
        const got = answers.filter((a) => a !== null);
        expect(got).toEqual(['same']);
        taken += got.length;
      }
      expect(taken).toBe(3);
    });

    it('refuses a key longer than 255 characters or holding NUL on add; get and take find nothing', async () => {
      const { ephemeral } = createDrizzleStores(db.options);
      const soon = new Date(Date.now() + 60_000);
      for (const key of ['k'.repeat(256), 'par:\u0000x']) {
        await expect(ephemeral.add(key, 'v', soon)).rejects.toThrow(RangeError);
        expect(await ephemeral.get(key)).toBeNull();
        expect(await ephemeral.take(key)).toBeNull();
      }
      const longest = `par:${'é'.repeat(251)}`;
      expect(await ephemeral.add(longest, 'v', soon), '255 characters, multi-byte').toBe(true);
      expect(await ephemeral.get(longest)).toBe('v');
    });

    it('purgeExpired deletes expired ephemeral rows and keeps live ones', async () => {
      const { ephemeral } = createDrizzleStores(db.options);
      const gone = makeEphemeralKey();
      const kept = makeEphemeralKey();
      await ephemeral.add(gone, 'x', new Date(Date.now() + 30));
      await ephemeral.add(kept, 'y', new Date(Date.now() + 60_000));
      await new Promise((r) => setTimeout(r, 80));
      expect(await purgeExpired(db.options)).toBeGreaterThanOrEqual(1);
      expect(await row(gone)).toBeUndefined();
      expect((await row(kept))?.value).toBe('y');
    });
  });
}
