/**
 * Runs the example: `pnpm build && APP_SECRET=... PORT=3000 pnpm start`. HOST defaults to
 * 127.0.0.1; the issuer is `http://HOST:PORT` unless ISSUER says otherwise.
 */
import { createApp } from './app.js';

const secret = process.env.APP_SECRET ?? '';
if (secret.length < 32) {
  console.error('example-nestjs: set APP_SECRET to a secret of 32 characters or more (e.g. `openssl rand -hex 32`)');
  process.exit(1);
}
const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? '3000');
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error('example-nestjs: PORT must be an integer from 1 to 65535');
  process.exit(1);
}

const app = await createApp({ issuer: process.env.ISSUER ?? `http://${host}:${port}`, clientSecret: secret });
app.enableShutdownHooks();
await app.listen(port, host);
console.error(`example-nestjs: listening on http://${host}:${port}`);
