import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, isIPv6 } from 'node:net';
import { createAdminHandler } from '@portcullis/admin';
import type { OAuth2Provider, ProviderStores } from '@portcullis/core';
import type { AppConfig } from './config.js';
import type { RouteGroup } from './context.js';
import { createDemoClient } from './demo.js';
import { openGrantCache } from './grant-cache.js';
import { createHealth } from './health.js';
import { sendJson } from './http-util.js';
import { type AppLogger, createLogger, type LogSink } from './log.js';
import { type DemoUser, setupProvider } from './provider-setup.js';
import { type PurgeRun, startPurge } from './purge.js';
import type { ClientAuthRateLimit, SignInLimit } from './rate-limit.js';
import { createRouter } from './router.js';
import { connectedRoutes } from './routes/connected.js';
import { deviceRoutes } from './routes/device.js';
import { oauthRoutes } from './routes/oauth.js';
import { pageRoutes } from './routes/pages.js';
import type { AppState } from './state/app-state.js';
import { openState } from './state/open.js';
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
  /** Stops accepting requests, cuts open connections at once, and closes the database and grant cache. */
  close(): Promise<void>;
  /**
   * The graceful stop (SIGTERM): stops accepting connections, lets requests in flight finish for
   * at most `graceSeconds` (default `SHUTDOWN_GRACE`), then cuts what is left and closes the
   * database and grant cache. Resolves with the number of requests that were cut.
   */
  shutdown(graceSeconds?: number): Promise<{ cut: number }>;
  /** Runs the purge of expired rows now (see `startPurge`); it also runs every `PURGE_INTERVAL`. */
  purge(): Promise<PurgeRun>;
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

/**
 * The admin API (`@portcullis/admin`) at `/admin` when `ADMIN_OPERATOR_TOKEN` is set, else `null`.
 * It answers its own paths (JSON, its own errors) and passes every other request on.
 */
function adminRoutes(config: AppConfig, provider: OAuth2Provider, stores: ProviderStores): RouteGroup | null {
  const token = config.adminOperatorToken;
  if (!token) return null;
  // Every binding's registration store (and core's memory one) pages clients itself (`listClients`).
  const registrations = stores.registrations && stores.clients ? stores.registrations : null;
  const admin = createAdminHandler({
    provider,
    stores: {
      ...(stores.clients ? { clients: stores.clients } : {}),
      ...(registrations ? { registrations } : {}),
      ...(stores.keys ? { keys: stores.keys } : {}),
      ...(stores.userGrants ? { userGrants: stores.userGrants } : {}),
    },
    operatorTokens: [token.reveal()],
    basePath: '/admin',
  });
  return ({ req, res }) =>
    new Promise<boolean>((resolve, reject) => {
      admin(req, res, () => resolve(false)).then(() => resolve(true), reject);
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
  const storage = await openStorage(config.database, undefined, config.databasePool);
  let grantCache: Awaited<ReturnType<typeof openGrantCache>> = null;
  let state: AppState | null = null;
  let handler: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | null = null;
  let draining = false;
  let inFlight = 0;
  const health = createHealth({
    logger,
    state: () => (draining ? 'draining' : handler ? 'serving' : 'starting'),
    probes: {
      database: () => storage.ping(),
      grantCache: () => grantCache?.ping() ?? Promise.resolve(),
      ...(config.stateStore === 'shared' ? { state: () => state?.ping() ?? Promise.reject(new Error('not open')) } : {}),
    },
  });
  const t = config.server;
  const server = createServer(
    {
      headersTimeout: t.headersTimeout * 1000,
      requestTimeout: t.requestTimeout * 1000,
      keepAliveTimeout: t.keepAliveTimeout * 1000,
      // How often node looks for requests past their headers or request timeout (default 30 s).
      connectionsCheckingInterval: Math.min(5000, Math.max(100, (t.headersTimeout * 1000) / 4)),
    },
    (req, res) => {
      // Health checks: answered first, cheap, and not logged.
      if (health.handle(req, res)) return;
      inFlight++;
      res.once('close', () => inFlight--);
      if (draining) res.setHeader('Connection', 'close');
      if (handler) void handler(req, res);
      else sendJson(res, 503, { error: 'temporarily_unavailable', error_description: 'Starting' }, { 'Retry-After': '1' });
    },
  );
  const closeStores = async () => {
    await state?.close();
    await grantCache?.close();
    await storage.close();
  };
  const closeAll = async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await closeStores();
  };
  try {
    grantCache = await openGrantCache(
      config.grantCache,
      config.lifetimes.authorizationCode,
      logger.core,
      config.redisCommandTimeoutMs,
      config.memcachedCommandTimeoutMs,
    );
    state = await openState(config, storage);
    const address = await listen(server, config.host, config.port);
    const url = `http://${urlHost(address.address)}:${address.port}`;
    const issuer = config.issuer ?? `http://${urlHost(config.host)}:${address.port}`;
    const setup = await setupProvider(config, { logger, storage, grantCache: grantCache?.store ?? null, url, issuer, state });
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
    const admin = adminRoutes(config, provider, setup.stores);
    handler = createRouter(ctx, [
      ...(admin ? [admin] : []),
      oauthRoutes(ctx),
      deviceRoutes(ctx),
      connectedRoutes(ctx),
      ...(demo ? [({ req, res }: { req: IncomingMessage; res: ServerResponse }) => demo(req, res)] : []),
      await pageRoutes(ctx, demo !== null),
    ]);
    const purge = startPurge({
      storage,
      state,
      logger,
      intervalSeconds: config.purge.intervalSeconds,
      batchSize: config.purge.batchSize,
      unusedClientWindow: config.registration.unusedWindow,
    });
    logger.info('listening', {
      url,
      issuer,
      database: storage.kind,
      grantCache: grantCache?.description ?? 'database',
      state: state.description,
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
      purge: () => purge.runOnce(),
      close: async () => {
        await purge.stop();
        await closeAll();
      },
      shutdown: async (graceSeconds = t.shutdownGrace) => {
        const purgeStopped = purge.stop();
        draining = true;
        logger.info('shutting down', { inFlight, graceSeconds });
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // Idle keep-alive connections go now; busy ones once their response is sent (`Connection: close`).
        server.closeIdleConnections();
        const sweep = setInterval(() => server.closeIdleConnections(), 200);
        let timer: NodeJS.Timeout | undefined;
        const overdue = new Promise<true>((resolve) => {
          timer = setTimeout(() => resolve(true), graceSeconds * 1000);
        });
        const late = await Promise.race([closed.then(() => false as const), overdue]);
        clearInterval(sweep);
        clearTimeout(timer);
        const cut = late ? inFlight : 0;
        if (late) {
          logger.warn('shutdown grace time over: cutting the requests still in flight', { cut });
          server.closeAllConnections();
          await closed;
        }
        await purgeStopped;
        await closeStores();
        logger.info('stopped', { cut });
        return { cut };
      },
    };
  } catch (err) {
    await closeAll().catch(() => {});
    throw err;
  }
}
