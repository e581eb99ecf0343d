/** `@portcullis/core/express`: handlers typed with Express's Request/Response, no type arguments. */
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireOAuth, withOAuth } from '../src/express.js';
import { basic, form, json, SECRET, setup } from './security/fixture.js';

const { provider } = setup();
const app = express();
// These lines are the point: they type-check (tsc runs over test/) with Express's own types.
app.get(
  '/me',
  withOAuth(provider, ['read'], (req, res) => res.json({ client: req.oauth.clientId, q: req.query.q })),
);
app.get(
  '/status',
  withOAuth(provider, ['read'], (req, res) => res.status(201).send(req.oauth.scopes.join(' '))),
);
app.get('/mw', requireOAuth(provider, 'read'), (req, res) => res.json({ ok: true, path: req.path }));
app.get(
  '/boom',
  withOAuth(provider, ['read'], async () => {
    throw new Error('boom');
  }),
);
app.use((_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
  res.status(500).json({ handled: true });
});

let base = '';
let server: ReturnType<typeof app.listen>;
beforeAll(async () => {
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));

describe('express entry', () => {
  it('runs the typed handlers behind the bearer check', async () => {
    const t = json(
      await provider.token(form({ grant_type: 'client_credentials', scope: 'read' }, { authorization: basic('app', SECRET) })),
    );
    const auth = { authorization: `Bearer ${t.access_token}` };
    expect(await (await fetch(`${base}/me?q=1`, { headers: auth })).json()).toEqual({ client: 'app', q: '1' });
    const s = await fetch(`${base}/status`, { headers: auth });
    expect(s.status).toBe(201);
    expect(await s.text()).toBe('read');
    expect(await (await fetch(`${base}/mw`, { headers: auth })).json()).toEqual({ ok: true, path: '/mw' });
    expect((await fetch(`${base}/me`)).status).toBe(401);
    const boom = await fetch(`${base}/boom`, { headers: auth });
    expect(boom.status).toBe(500);
    expect(await boom.json()).toEqual({ handled: true });
  });
});
