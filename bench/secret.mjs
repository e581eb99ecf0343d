/**
 * Secret verification cost, in this process (pinned to the server core by run.mjs): the time of
 * one `verifySecret` against a `hashSecret` hash (salted SHA-256) and against a `hashPassword`
 * (scrypt) hash. Prints one line: SECRET_RESULT {json}. Loops are bounded in time and count.
 */
import { hashPassword, hashSecret, verifySecret } from '@portcullis/core';

const secret = 's3cret-for-the-benchmark-0123456789';
const hmac = hashSecret(secret);
const scrypt = await hashPassword(secret);

async function time(hash, budgetMs, maxCount) {
  // Warm up, then count calls until the budget is spent.
  for (let i = 0; i < Math.min(100, maxCount); i++) await verifySecret(secret, hash);
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(budgetMs) * 1_000_000n;
  let n = 0;
  let now = start;
  while (n < maxCount && now < deadline) {
    if (!(await verifySecret(secret, hash))) throw new Error('verifySecret returned false');
    n++;
    if ((n & 63) === 0 || hash === scrypt) now = process.hrtime.bigint();
  }
  now = process.hrtime.bigint();
  return Number(now - start) / 1000 / n;
}

const hmacUs = await time(hmac, 1500, 5_000_000);
const scryptUs = await time(scrypt, 3000, 200);
console.log(`SECRET_RESULT ${JSON.stringify({ hmacUs, scryptUs })}`);
