import type { KeyValue } from './key-value.js';

const PREFIX = 'portcullis:state:';

/** Counts one and sets the window on the first count, atomically: `{count, ms left}`. */
const INCREMENT = `local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local t = redis.call('PTTL', KEYS[1])
if t < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) t = tonumber(ARGV[1]) end
return {c, t}`;

/** The shared app state's records on Redis (its own connection), expiring with Redis TTLs. */
export async function openRedisKeyValue(url: string): Promise<KeyValue> {
  const { createClient } = await import('redis');
  const client = createClient({ url, socket: { connectTimeout: 5000 } });
  client.on('error', () => {}); // commands fail and are reported where they are used
  await client.connect();
  const k = (key: string) => `${PREFIX}${key}`;
  return {
    description: 'redis',
    get: (key) => client.get(k(key)),
    async set(key, value, ttlMs) {
      await client.set(k(key), value, { PX: Math.max(1, Math.ceil(ttlMs)) });
    },
    async add(key, value, ttlMs) {
      return (await client.set(k(key), value, { PX: Math.max(1, Math.ceil(ttlMs)), NX: true })) === 'OK';
    },
    take: (key) => client.getDel(k(key)),
    async delete(key) {
      await client.del(k(key));
    },
    async increment(key, windowMs) {
      const [count, left] = (await client.eval(INCREMENT, { keys: [k(key)], arguments: [String(Math.max(1, Math.ceil(windowMs)))] })) as [
        number,
        number,
      ];
      return { count: Number(count), resetAt: Date.now() + Number(left) };
    },
    async counter(key) {
      const [value, left] = await client.multi().get(k(key)).pTTL(k(key)).exec();
      if (value === null || value === undefined || Number(left) < 0) return null;
      return { count: Number(value), resetAt: Date.now() + Number(left) };
    },
    async ping() {
      await client.ping();
    },
    async close() {
      client.destroy();
    },
  };
}
