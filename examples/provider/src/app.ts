import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, isIPv6 } from 'node:net';
import type { OAuth2Provider } from '@portcullis/core';
import type { AppConfig } from './config.js';
import { createDemoClient } from './demo.js';
import { openGrantCache } from './grant-cache.js';
import { sendJson } from './http-util.js';
import { type AppLogger, createLogger, describeError, type LogSink } from './log.js';
import { type DemoUser, setupProvider } from './provider-setup.js';
import type { ClientAuthRateLimit, SignInLimit } from './rate-limit.js';
import { createRouter } from './router.js';
import { oauthRoutes } from './routes/oauth.js';
import { pageRoutes } from './routes/pages.js';
import { openStorage, type Storage } from './storage.js';

export { DEMO_SUBJECT, DEMO_USERNAME, type DemoUser } from './provider-setup.js';
export { safeReturnTo } from './routes/pages.js';

export interface AppOptions {
  /** Where JSON log lines go. Default: stdout. */
  log?: LogSink;
}

/** A running app. */
export interface App {
  readonly server: Server;
  /** Where it listens, as a loopback URL (`http://127.0.0.1:<port>`). */
  readonly url: string;
  readonly issuer: string;
  readonly provider: OAuth2Provider;
  readonly storage: Storage;
  readonly demoUser: DemoUser | null;
  readonly rateLimit: ClientAuthRateLimit;
  /** The limit on failed sign-ins (login page and `password` grant). */
  readonly signInLimit: SignInLimit;
  readonly logger: AppLogger;
  /** Stops accepting requests and closes the database and grant cache. */
  close(): Promise<void>;
}

function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return isIPv6(host) ? `[${host}]` : host;
}

/**
 * Starts the example provider: opens the database and grant cache, listens, applies the seed
 * file, creates the demo client and user, and serves the pages, the OAuth endpoints and the API.
 * With `port: 0` it picks a free port (tests); `url` says where it listens.
 */
export async function createApp(config: AppConfig, options: AppOptions = {}): Promise<App> {
  const logger = createLogger(options.log);
  const storage = await openStorage(config.database);
  let grantCache: Awaited<ReturnType<typeof openGrantCache>> = null;
  let handler: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | null = null;
  const server = createServer((req, res) => {
    if (handler) void handler(req, res);
    else sendJson(res, 503, { error: 'temporarily_unavailable', error_description: 'Starting' }, { 'Retry-After': '1' });
  });
  const closeAll = async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await grantCache?.close();
    await storage.close();
  };
  try {
    grantCache = await openGrantCache(config.grantCache, config.lifetimes.authorizationCode, logger.core);
    const address = await listen(server, config.host, config.port);
    const url = `http://${urlHost(address.address)}:${address.port}`;
    const issuer = config.issuer ?? `http://${urlHost(config.host)}:${address.port}`;
    const setup = await setupProvider(config, { logger, storage, grantCache: grantCache?.store ?? null, url, issuer });
    const { context: ctx, provider } = setup;
    const paths = provider.options.endpoints;
    const demo = config.demo
      ? createDemoClient({
          issuer,
          internalUrl: url,
          authorizePath: paths.authorization,
          tokenPath: paths.token,
          secureCookies: ctx.secure,
          sessionTtlMs: config.sessionTtl * 1000,
          sameOrigin: (req) => ctx.sameOrigin(req),
        })
      : null;
    handler = createRouter(ctx, [
      oauthRoutes(ctx),
      ...(demo ? [({ req, res }: { req: IncomingMessage; res: ServerResponse }) => demo(req, res)] : []),
      await pageRoutes(ctx, demo !== null),
    ]);
    let purging = false;
    const purge = setInterval(() => {
      if (purging) return;
      purging = true;
      storage
        .purgeExpired()
        .catch((err) => logger.warn('purging expired rows failed', { error: describeError(err) }))
        .finally(() => {
          purging = false;
        });
    }, 3600_000);
    purge.unref();
    logger.info('listening', {
      url,
      issuer,
      database: storage.kind,
      grantCache: grantCache?.description ?? 'database',
    });
    return {
      server,
      url,
      issuer,
      provider,
      storage,
      demoUser: setup.demoUser,
      rateLimit: setup.rateLimit,
      signInLimit: setup.signInLimit,
      logger,
      close: async () => {
        clearInterval(purge);
        await closeAll();
      },
    };
  } catch (err) {
    await closeAll().catch(() => {});
    throw err;
  }
}
