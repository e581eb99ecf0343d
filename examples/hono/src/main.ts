/**
 * Runs the example on Node: `APP_SECRET=... PORT=3000 pnpm start`. HOST defaults to 127.0.0.1;
 * PORT 0 picks a free port. The issuer is the address listened on unless ISSUER says otherwise.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { createApp } from './app.js';

const secret = process.env.APP_SECRET ?? '';
if (secret.length < 32) {
  console.error('example-hono: set APP_SECRET to a secret of 32 characters or more (e.g. `openssl rand -hex 32`)');
  process.exit(1);
}
const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? '3000');
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error('example-hono: PORT must be an integer from 0 to 65535');
  process.exit(1);
}

let app: Hono | undefined;
const server = serve({ fetch: (req) => (app ? app.fetch(req) : new Response(null, { status: 503 })), port, hostname: host });
server.once('listening', () => {
  const url = `http://${host}:${(server.address() as AddressInfo).port}`;
  app = createApp({ issuer: process.env.ISSUER ?? url, clientSecret: secret });
  console.error(`example-hono: listening on ${url}`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    // Keep-alive connections would hold close() open: a bounded wait, then go.
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
