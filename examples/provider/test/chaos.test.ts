/**
 * The chaos scenario of `pnpm chaos` (scripts/chaos.ts), short: three processes on PostgreSQL and
 * Redis under load while one process is killed, Redis and PostgreSQL are stopped and started.
 * No 5xx other than 503, no acknowledged token lost, no code redeemed twice.
 */
import { expect, it } from 'vitest';
import { formatReport, runChaos } from '../scripts/chaos.js';

it('kills a process and restarts Redis and PostgreSQL under load: no 5xx but 503, no acknowledged token lost, no code redeemed twice', async () => {
  const lines: string[] = [];
  const report = await runChaos({ seconds: 10, workers: 4, log: (l) => lines.push(l) });
  console.log(formatReport(report));
  expect(report.requests).toBeGreaterThan(100);
  expect(report.tokensIssued).toBeGreaterThan(20);
  expect(report.serverErrors, lines.join('\n')).toBe(0);
  expect(report.acknowledgedTokensLost, lines.join('\n')).toBe(0);
  expect(report.codesRedeemedTwice).toBe(0);
  expect(Object.keys(report.recoveries).sort()).toEqual(['PostgreSQL restarted', 'Redis restarted (empty)', 'process killed']);
}, 240_000);
