import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { isStoreUnavailable } from '@portcullis/core';
import type { AppContext, RequestInfo, RouteGroup } from './context.js';
import { errorPage } from './html.js';
import { SECURITY_HEADERS, sendHtml, splitUrl } from './http-util.js';
import { describeError, pathOnly } from './log.js';

/**
 * The app's request handler: sets the security headers, asks each route group in turn (the first
 * that answers wins; 404 page when none does), logs one line per request when its response
 * closes, and answers 500 when a route throws.
 */
export function createRouter(ctx: AppContext, groups: readonly RouteGroup[]) {
  const { logger } = ctx;

  async function route(req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<void> {
    const { path, query } = splitUrl(req.url);
    const method = req.method ?? 'GET';
    for (const group of groups) {
      if (await group({ req, res, info, path, query, method })) return;
    }
    sendHtml(res, 404, errorPage({ title: 'Not found', error: 'not_found', description: 'There is no page here.' }));
  }

  return async function handler(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const info: RequestInfo = { ip: ctx.ipOf(req), clientId: null };
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    res.once('close', () => {
      logger.request({
        method: req.method ?? 'GET',
        path: pathOnly(req.url ?? '/'),
        status: res.statusCode,
        durationMs: performance.now() - started,
        clientId: info.clientId,
        ip: info.ip,
      });
    });
    try {
      await route(req, res, info);
    } catch (err) {
      logger.error('request failed', { path: pathOnly(req.url ?? '/'), error: describeError(err) });
      if (!res.headersSent && isStoreUnavailable(err)) {
        // A store (the shared state, the database) cannot be reached right now: 503, as core answers.
        sendHtml(
          res,
          503,
          errorPage({ title: 'Temporarily unavailable', error: 'temporarily_unavailable', description: 'Try again in a moment.' }),
          { 'Retry-After': '1' },
        );
      } else if (!res.headersSent) {
        sendHtml(res, 500, errorPage({ title: 'Server error', error: 'server_error', description: 'Something went wrong.' }));
      } else {
        res.destroy();
      }
    }
  };
}
