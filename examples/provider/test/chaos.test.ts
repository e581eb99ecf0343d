/**
 * The chaos scenario of `pnpm chaos` (scripts/chaos.ts), short: three processes on PostgreSQL and
 * Redis under load while one process is killed and replaced, then Redis (restarted empty), then
 * PostgreSQL are stopped and started, one fault after the other. No 5xx other than 503, no
 * acknowledged token lost, no code redeemed twice, and every fault recovered: every process
 * issues tokens again and a new browser signs in across processes, within the recovery limit
 * (15 s here; a healthy run takes a second or two per fault, `pnpm chaos` prints the figures).
 * The replacement process is started with the first three (`spare`), so the test does not wait
 * for a node start under load; `pnpm chaos` starts it after the kill.
 */
import { expect, it } from 'vitest';
import { formatReport, runChaos } from '../scripts/chaos.js';

const RECOVERY_LIMIT_MS = 15_000;

it('kills a process and restarts Redis and PostgreSQL under load: no 5xx but 503, no acknowledged token lost, no code redeemed twice, every fault recovered', async () => {
  const lines: string[] = [];
  const report = await runChaos({
    seconds: 10,
    workers: 4,
    recoveryLimitMs: RECOVERY_LIMIT_MS,
    spare: true,
    baseline: false,
    log: (l) => lines.push(l),
  });
  const story = lines.join('\n');
  console.log(`${story}\n${formatReport(report)}`);
  expect(report.requests).toBeGreaterThan(100);
  expect(report.tokensIssued).toBeGreaterThan(20);
  expect(report.serverErrors, story).toBe(0);
  expect(report.acknowledgedTokensLost, story).toBe(0);
  expect(report.codesRedeemedTwice).toBe(0);
  expect(Object.keys(report.recoveries).sort()).toEqual(['PostgreSQL restarted', 'Redis restarted (empty)', 'process killed']);
  for (const [fault, ms] of Object.entries(report.recoveries)) {
    expect(ms, `${fault} did not recover within ${RECOVERY_LIMIT_MS} ms\n${story}`).not.toBeNull();
  }
  expect(report.longestRecoveryMs).not.toBeNull();
  expect(report.ok, story).toBe(true);
}, 180_000);
