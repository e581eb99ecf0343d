/**
 * Property-based fuzzing of every endpoint through every adapter: token, revocation,
 * introspection, metadata, the authorization endpoint (`authorize` + `completeAuthorization`) and
 * the bearer resource check (requireOAuth, withOAuth, requireOAuthFetch), on `node:http`, Express 5
 * (with and without `express.urlencoded`) and Fetch. See `arbitraries.ts` for what is sent and
 * `checks.ts` for what every answer must satisfy.
 *
 * CI runs 500 generated requests (a few seconds); `FUZZ_RUNS=20000` (what `pnpm fuzz` sets) runs
 * long, and `FUZZ_SEED` replays the seed fast-check prints with a failure (`FUZZ_PATH` its path).
 * A process-wide `unhandledRejection`/`uncaughtException` listener fails the run that caused it.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeSpec, knownCases, type Spec, spec } from './arbitraries.js';
import { responseProblems } from './checks.js';
import { ESCAPED, escapes, logged, startTargets, type Variants } from './targets.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 500);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const PATH = process.env.FUZZ_PATH;
/** Generous per-run allowance (four targets per run, each a fresh connection). */
const TIMEOUT_MS = Math.max(60_000, RUNS * 40);

let variants: Variants;
/** Anything that reached the process: rejected promises nobody handled, exceptions nobody caught. */
const unhandled: { kind: string; error: unknown }[] = [];
const onRejection = (error: unknown) => unhandled.push({ kind: 'unhandledRejection', error });
const onException = (error: unknown) => unhandled.push({ kind: 'uncaughtException', error });

beforeAll(async () => {
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  variants = await startTargets();
});
afterAll(async () => {
  process.off('unhandledRejection', onRejection);
  process.off('uncaughtException', onException);
  await variants?.close();
});

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}${'code' in e ? ` (${String(e.code)})` : ''}` : String(e);
}

/** Sends one spec to every app of its variant; throws with every problem found. */
async function attack(s: Spec): Promise<void> {
  const tokens = await variants.tokens(s.variant);
  escapes.length = 0;
  unhandled.length = 0;
  logged.length = 0;
  const problems: string[] = [];
  for (const t of variants.targets[s.variant]) {
    let r: Awaited<ReturnType<typeof t.send>>;
    try {
      r = await t.send(s, tokens);
    } catch (err) {
      problems.push(`${t.name}: the request failed: ${describeError(err)}`);
      continue;
    }
    // Let anything left unhandled surface before looking.
    await new Promise((resolve) => setImmediate(resolve));
    for (const e of escapes.splice(0)) problems.push(`${t.name}: escaped from ${e.where}: ${describeError(e.error)}`);
    for (const u of unhandled.splice(0)) problems.push(`${t.name}: ${u.kind}: ${describeError(u.error)}`);
    if (r === null) continue;
    if (r.status === ESCAPED) continue;
    for (const p of responseProblems(r, s.method === 'HEAD')) problems.push(`${t.name}: ${p}`);
  }
  if (logged.length > 0) problems.push(`the provider logged errors: ${logged.join('; ')}`);
  if (problems.length > 0) throw new Error(`${problems.join('\n')}\nrequest: ${describeSpec(s, tokens)}`);
}

describe('fuzz: every endpoint through every adapter', () => {
  it('the reported crash and its neighbours: no escape, no 5xx, clean headers and descriptions', async () => {
    const failures: string[] = [];
    for (const s of knownCases()) {
      try {
        await attack(s);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
    expect(failures, failures.join('\n\n')).toEqual([]);
  });

  it(
    `hostile names, values, headers, content types and methods (${RUNS} runs)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(spec, async (s) => {
          await attack(s);
        }),
        { numRuns: RUNS, seed: SEED, path: PATH },
      );
    },
    TIMEOUT_MS,
  );
});
