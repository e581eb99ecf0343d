/**
 * docs/migrating-from-flask-oauthlib.md: the ported app over HTTP on 127.0.0.1, once with the
 * getters over in-process tables and once with the bindings (Sequelize on SQLite, memory grant
 * cache): consent form, code, token (with the configured lifetime), the protected resource,
 * refresh rotation and replay, revocation, the password grant, the error URI and the
 * after_request hook.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { defineModels } from '@portcullis/binding-sequelize';
import { basicAuth, pkcePair } from '@portcullis/binding-testkit';
import { hashPassword, hashSecret, type OAuth2Provider } from '@portcullis/core';
import { Sequelize } from 'sequelize';
import { afterAll, describe, it } from 'vitest';
import {
  type AppUser,
  createApp,
  createProviderWithBindings,
  createProviderWithGetters,
  sessions,
  suspendedUsers,
  type Tables,
} from '../examples/flask-oauthlib.js';

const CB = 'https://client.example/cb';
const web = {
  id: 'web',
  secretHash: hashSecret('web-secret-0123456789abcdefghij0123456789'),
  redirectUris: [CB],
  grantTypes: ['authorization_code', 'refresh_token', 'password'] as const,
  scopes: ['email', 'profile'],
};

const variants: [string, () => Promise<OAuth2Provider<AppUser>>][] = [
  [
    'getters (the decorators)',
    async () => {
      const db: Tables = { clients: new Map(), users: new Map(), codes: new Map(), tokens: new Map() };
      db.clients.set(web.id, { ...web, grantTypes: [...web.grantTypes] });
      for (const username of ['alice', 'mallory']) {
        db.users.set(username, { user: { id: `u-${username}`, username }, passwordHash: await hashPassword('pw') });
      }
      return createProviderWithGetters(db);
    },
  ],
  [
    'bindings (bind_sqlalchemy, bind_cache_grant)',
    async () => {
      const sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
      closers.push(() => sequelize.close());
      const provider = await createProviderWithBindings(sequelize);
      const models = defineModels(sequelize);
      await sequelize.sync();
      await models.client.create({ ...web, grantTypes: [...web.grantTypes] });
      for (const username of ['alice', 'mallory']) {
        await models.user.create({ id: `u-${username}`, username, passwordHash: await hashPassword('pw') });
      }
      return provider;
    },
  ],
];
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of closers) await close();
});

sessions.set('s-alice', { id: 'u-alice', username: 'alice' });
sessions.set('s-mallory', { id: 'u-mallory', username: 'mallory' });

for (const [name, make] of variants) {
  describe(`Flask-OAuthlib port: ${name}`, () => {
    let base = '';
    const started = (async () => {
      const server = createApp(await make());
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      closers.push(() => new Promise((resolve) => server.close(() => resolve())));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    })();

    const post = (path: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
      fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams(form),
        redirect: 'manual',
      });
    const asWeb = { authorization: basicAuth('web', 'web-secret-0123456789abcdefghij0123456789') };
    const me = (token: string) => fetch(`${base}/api/me`, { headers: { authorization: `Bearer ${token}` } });

    /** Consent as `session`, then the code from the redirect. */
    async function code(session: string, verifierChallenge = pkcePair()) {
      await started;
      const query = new URLSearchParams({
        response_type: 'code',
        client_id: 'web',
        redirect_uri: CB,
        scope: 'email',
        state: 'st',
        code_challenge: verifierChallenge.challenge,
        code_challenge_method: 'S256',
      });
      const page = await fetch(`${base}/oauth/authorize?${query}`, { headers: { cookie: `session=${session}` } });
      assert.equal(page.status, 200);
      const html = await page.text();
      assert.match(html, /web asks for: email/);
      const hidden = /name="query" value="([^"]*)"/.exec(html)?.[1] ?? '';
      const carried = hidden.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)));
      const answer = await post('/oauth/authorize', { query: carried, confirm: 'yes' }, { cookie: `session=${session}` });
      assert.equal(answer.status, 302);
      const location = new URL(answer.headers.get('location') ?? '');
      assert.equal(location.searchParams.get('state'), 'st');
      return { code: location.searchParams.get('code') ?? '', verifier: verifierChallenge.verifier };
    }

    it('runs the code flow: consent form, token with OAUTH2_PROVIDER_TOKEN_EXPIRES_IN, require_oauth, refresh, replay, revoke', async () => {
      const { code: c, verifier } = await code('s-alice');
      const res = await post(
        '/oauth/token',
        { grant_type: 'authorization_code', code: c, redirect_uri: CB, code_verifier: verifier },
        asWeb,
      );
      assert.equal(res.status, 200);
      const tokens = (await res.json()) as Record<string, string | number>;
      assert.equal(tokens.expires_in, 600);
      assert.deepEqual(await (await me(String(tokens.access_token))).json(), { user: 'u-alice', scopes: ['email'] });

      const refreshed = await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: String(tokens.refresh_token) }, asWeb);
      assert.equal(refreshed.status, 200);
      const next = (await refreshed.json()) as Record<string, string>;
      assert.equal((await me(String(next.access_token))).status, 200);

      const revoked = await post('/oauth/revoke', { token: String(next.access_token) }, asWeb);
      assert.equal(revoked.status, 200);
      assert.equal((await me(String(next.access_token))).status, 401);

      const replay = await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: String(tokens.refresh_token) }, asWeb);
      assert.equal(replay.status, 400);
      const again = await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: String(next.refresh_token) }, asWeb);
      // The getters report the replay and core revokes the family; the SQL binding does too.
      assert.equal(again.status, 400, 'the replay of a rotated refresh token revoked its family');
    });

    it('a code is spent once, the password grant checks the hash, and the error URI takes unknown clients', async () => {
      const { code: c, verifier } = await code('s-alice');
      const form = { grant_type: 'authorization_code', code: c, redirect_uri: CB, code_verifier: verifier };
      assert.equal((await post('/oauth/token', form, asWeb)).status, 200);
      assert.equal((await post('/oauth/token', form, asWeb)).status, 400);

      const good = await post('/oauth/token', { grant_type: 'password', username: 'alice', password: 'pw', scope: 'email' }, asWeb);
      assert.equal(good.status, 200);
      const bad = await post('/oauth/token', { grant_type: 'password', username: 'alice', password: 'nope', scope: 'email' }, asWeb);
      assert.equal(bad.status, 400);

      const unknown = await fetch(`${base}/oauth/authorize?response_type=code&client_id=nobody`, { redirect: 'manual' });
      assert.equal(unknown.status, 302);
      assert.ok(unknown.headers.get('location')?.startsWith('https://auth.example/oauth/errors?'));
    });

    it('the after_request hook refuses the token request of a suspended user', async () => {
      suspendedUsers.add('u-mallory');
      try {
        const { code: c, verifier } = await code('s-mallory');
        const res = await post(
          '/oauth/token',
          { grant_type: 'authorization_code', code: c, redirect_uri: CB, code_verifier: verifier },
          asWeb,
        );
        assert.equal(res.status, 400);
        assert.equal(((await res.json()) as { error: string }).error, 'invalid_grant');
      } finally {
        suspendedUsers.delete('u-mallory');
      }
    });
  });
}
