/** `pnpm start`: the example API, configured by ISSUER, AUDIENCE, HOST and PORT. */
import { startApi } from './app.js';
import { ConfigError, parseConfig } from './config.js';

try {
  const config = parseConfig();
  const { server, url } = await startApi(config);
  console.log(`resource-api on ${url} (issuer ${config.issuer}, audience ${config.audience})`);
  const stop = () => server.close(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} catch (err) {
  console.error(err instanceof ConfigError ? `resource-api: ${err.message}` : err);
  process.exit(1);
}
