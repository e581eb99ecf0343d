import { StoreUnavailableError } from '@portcullis/core';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Rejects if `promise` has not settled within `ms`: the stores promise to fail fast when the
 * server is gone, and a hang is the failure this catches (the bound is generous on purpose).
 */
export async function settlesWithin<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}

/** Asserts that `promise` rejects with a `StoreUnavailableError` (and not by hanging). */
export async function expectUnavailable(promise: Promise<unknown>, what: string): Promise<StoreUnavailableError> {
  const outcome = await settlesWithin(5000, promise.then(
    () => new Error(`${what} succeeded while the server was down`),
    (err: unknown) => err,
  ), what);
  if (!(outcome instanceof StoreUnavailableError)) {
    throw new Error(`${what}: expected StoreUnavailableError, got ${String(outcome)}`, { cause: outcome });
  }
  return outcome;
}

/** Retries `fn` until it resolves (bounded: 100 tries, 15 s), returning its value. */
export async function eventually<T>(fn: () => Promise<T>, what: string): Promise<T> {
  const deadline = Date.now() + 15_000;
  let last: unknown;
  for (let i = 0; i < 100 && Date.now() < deadline; i++) {
    try {
      return await fn();
    } catch (err) {
      last = err;
      await sleep(150);
    }
  }
  throw new Error(`${what} never succeeded`, { cause: last });
}
