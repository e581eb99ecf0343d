/**
 * `pnpm start` (or `pnpm demo` at the root): the example provider on embedded defaults (SQLite
 * file under .data/, in-memory grant cache) at http://127.0.0.1:3000 unless PORT/ISSUER say
 * otherwise. README.md lists every setting.
 */
import { createApp } from './app.js';
import { ConfigError, parseConfig, redactUrl } from './config.js';
import { SeedError } from './seed.js';
import { parseDatabaseDriver } from './storage.js';
import { parseTelemetryConfig, startTelemetry, type Telemetry } from './telemetry.js';

async function main(): Promise<void> {
  const config = parseConfig(process.env, process.argv.slice(2));
  const driver = parseDatabaseDriver(process.env.DATABASE_DRIVER, config.database);
  // The OpenTelemetry SDK is registered before the provider exists, so its first request is recorded.
  const telemetry = await startTelemetry(parseTelemetryConfig(process.env));
  let app: Awaited<ReturnType<typeof createApp>>;
  try {
    app = await createApp(config);
  } catch (err) {
    await telemetry?.shutdown(1000);
    throw err;
  }
  const db = `${config.database.kind === 'sqlite' ? `sqlite:${config.database.storage}` : redactUrl(config.database.url)} (${driver})`;
  const lines = [
    '',
    `Portcullis example provider on ${app.url}`,
    `  issuer:       ${app.issuer}`,
    `  metadata:     ${app.issuer}/.well-known/oauth-authorization-server`,
    `  database:     ${db}`,
  ];
  if (telemetry?.metricsUrl) lines.push(`  metrics:      ${telemetry.metricsUrl}`);
  if (telemetry?.otlpEndpoint) lines.push(`  otlp:         ${redactUrl(telemetry.otlpEndpoint)} (spans and metrics)`);
  if (app.demoUser) {
    lines.push(`  demo client:  ${app.issuer}/demo  (click "Sign in with Portcullis")`);
    lines.push(
      app.demoUser.password
        ? `  demo user:    ${app.demoUser.username} / ${app.demoUser.password}   (shown this once; only its hash is stored)`
        : `  demo user:    ${app.demoUser.username} (password shown at first start; set a new one with: pnpm --filter @portcullis/example-provider cli users add ${app.demoUser.username} --subject ${app.demoUser.subject} --replace)`,
    );
  }
  lines.push('', 'Request logs follow, one JSON line each. Ctrl-C stops.', '');
  process.stderr.write(lines.join('\n'));
  // SIGTERM (and Ctrl-C): stop accepting, let requests in flight finish within SHUTDOWN_GRACE,
  // close the stores, flush the telemetry (5 s at most), exit 0. A second signal exits at once.
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(1);
    stopping = true;
    const flush = (t: Telemetry | null) => t?.shutdown(5000);
    app
      .shutdown()
      .then(
        () => flush(telemetry),
        async (err: unknown) => {
          await flush(telemetry);
          throw err;
        },
      )
      .then(
        () => process.exit(0),
        (err: unknown) => {
          process.stderr.write(`Shutdown failed: ${(err as Error)?.message ?? String(err)}\n`);
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof SeedError) {
    process.stderr.write(`Configuration error: ${err.message}\n`);
  } else {
    const e = err as Error;
    process.stderr.write(`Could not start: ${e?.name ?? 'Error'}: ${e?.message ?? String(err)}\n`);
  }
  process.exit(1);
});
