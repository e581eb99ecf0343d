#!/usr/bin/env node
// `pnpm bench`: Portcullis next to bare node:http, Express, oidc-provider and
// @node-oauth/oauth2-server, and on each database next to a floor (bare node:http + the driver
// doing the same statements), in one run, with ratios. A script, not a test: it asserts nothing.
//
//   pnpm bench                      full run (about 50 minutes)
//   pnpm bench --quick              a few minutes: one round of 2 s runs (warm-ups bounded at 4 s),
//                                   100,000 rows for cost growth, 100,000 tokens/codes for memory
//   pnpm bench --only pg,mariadb    groups: token telemetry resource introspection exchange jwt dpop
//                                   paired pg mariadb sqlite mongo memory growth secret (growth: one
//                                   client_credentials process per store for 90 s, tokens piling up;
//                                   paired: the ratio targets with both servers of each pair
//                                   loaded at once on the server core, so machine drift cancels)
//   pnpm bench --rounds 7           rounds per group (default 5; --quick: 1)
//   pnpm bench --out report.md      also write the report to a file
//   pnpm bench --no-pin             do not pin with taskset (machines with one core)
//   pnpm bench --source             run Portcullis from its TypeScript sources through tsx instead
//                                   of the built dist/ (tsx adds a few per cent: esbuild keepNames)
//   pnpm bench --profile DIR        every Portcullis server writes a V8 CPU profile to DIR
//
// Modules: lib/cli.mjs (options, preflight, cleanup, the order of the groups), lib/scenarios.mjs
// (servers, requests, rows), lib/measure.mjs (warm-up, rounds, slices, CPU), lib/paired.mjs (the
// paired targets), lib/stores.mjs
// (database servers, the store groups, round trips), lib/report.mjs (the table and targets).
//
// This process (the orchestrator) runs with tsx registered, so it can start the database servers
// with the testkit's launchers (packages/binding-testkit/src/launchers.ts) and the mongo-java-server
// launcher of the binding-mongoose tests from their TypeScript sources. The servers under test are
// child processes and load Portcullis from its built dist/ (unless --source): tsx is never in them.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./lib/cli.mjs');
await main(process.argv.slice(2));
