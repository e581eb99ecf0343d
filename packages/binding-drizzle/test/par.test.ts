/**
 * Pushed authorization requests (RFC 9126) on this binding's ephemeral table: two providers (two
 * processes) over one database, the request pushed at one shown and decided at the other, used
 * once even when decided concurrently at both.
 */
import { basicAuth, formRequest, jsonBody, locationOf, pkcePair } from '@portcullis/binding-testkit';
import { hashSecret, OAuth2Provider, type OAuthResponse } from '@portcullis/core';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindDrizzle } from '../src/index.js';
import { DIALECTS, openDatabase, type TestDatabase } from './databases.js';

const ISSUER = 'http://127.0.0.1';
const CB = 'https://app.example/cb';
const SECRET = 'par-client-secret-of-more-than-32-characters';
const auth = { authorization: basicAuth('web', SECRET) };
const codeOf = (r: OAuthResponse) => new URL(locationOf(r) || 'x:/').searchParams.get('code');

for (const dialect of DIALECTS) {
  describe(`${dialect}: pushed authorization requests through bindDrizzle`, () => {
    let db: TestDatabase;
    const providers: OAuth2Provider[] = [];
    beforeAll(async () => {
      db = await openDatabase(dialect);
      await db.seed([
        { id: 'web', secretHash: hashSecret(SECRET), redirectUris: [CB], grantTypes: ['authorization_code'], scopes: ['read'] },
      ]);
      for (let i = 0; i < 2; i++) {
        const provider = new OAuth2Provider({
          issuer: ISSUER,
          grants: ['authorization_code'],
          par: { enabled: true },
          logger: { warn: () => {}, error: () => {} },
        });
        const stores = bindDrizzle(provider, { ...db.options, currentUser: () => ({ id: 'u-alice' }) });
        expect(stores.ephemeral).toBeDefined();
        providers.push(provider);
      }
    });
    afterAll(async () => {
      await db?.close();
    });

    it('pushed at one process, shown again and again at the other, decided once of 8 concurrent decisions, redeemed', async () => {
      const [a, b] = providers as [OAuth2Provider, OAuth2Provider];
      const pair = pkcePair();
      const pushed = await a.pushedAuthorizationRequest(
        formRequest(
          '/oauth/par',
          {
            response_type: 'code',
            redirect_uri: CB,
            scope: 'read',
            state: 'st',
            code_challenge: pair.challenge,
            code_challenge_method: 'S256',
          },
          auth,
        ),
      );
      expect(pushed.status, pushed.body).toBe(201);
      const requestUri = (jsonBody(pushed) as { request_uri: string }).request_uri;
      const rows = await db.rows(sql`SELECT value FROM portcullis_ephemeral`);
      expect(
        rows.some((r) => String(r.value).includes(pair.challenge)),
        'the pushed request is a row of portcullis_ephemeral',
      ).toBe(true);

      const url = `/oauth/authorize?${new URLSearchParams({ client_id: 'web', request_uri: requestUri })}`;
      const shown = await b.authorize({ method: 'GET', url, headers: {} });
      if (shown.type !== 'consent') throw new Error(`expected consent, got ${shown.response.status} ${shown.response.body}`);
      const reload = await a.authorize({ method: 'GET', url, headers: {} });
      expect(reload.type, 'a reload shows the pushed request again').toBe('consent');
      if (reload.type !== 'consent') return;

      const decisions = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          (i % 2 ? a : b).completeAuthorization(i % 2 ? reload.request : shown.request, { approved: true, userId: 'u-alice' }),
        ),
      );
      const codes = decisions.map(codeOf).filter((c): c is string => c !== null);
      expect(codes, decisions.map((d) => `${d.status} ${locationOf(d)} ${d.body}`).join('\n')).toHaveLength(1);
      const again = await b.authorize({ method: 'GET', url, headers: {} });
      expect(again.type, 'the pushed request is used up').not.toBe('consent');
      expect((await db.rows(sql`SELECT value FROM portcullis_ephemeral`)).some((r) => String(r.value).includes(pair.challenge))).toBe(
        false,
      );

      const token = await a.token(
        formRequest(
          '/oauth/token',
          { grant_type: 'authorization_code', code: codes[0] as string, redirect_uri: CB, code_verifier: pair.verifier },
          auth,
        ),
      );
      expect(token.status, token.body).toBe(200);
    });
  });
}
