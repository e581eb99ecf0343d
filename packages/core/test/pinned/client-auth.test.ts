/**
 * Client authentication at the token endpoint, answer by answer: how a Basic header is read
 * (scheme case, spaces, Base64, the colon, form decoding of id and secret), which method a request
 * may combine with which, the lenient mode for clients that skip the form encoding, and the client
 * id that hooks see when authentication fails.
 */
import { describe, expect, it } from 'vitest';
import { hashPassword, hashSecret } from '../../src/crypto.js';
import type { Client, HookContext, HookOutcome, OAuthRequest, OAuthResponse } from '../../src/index.js';
import { basic, body, form, makeProvider, OTHER_SECRET, OTHER_SECRET_HASH, passwordHash, SECRET } from '../helpers.js';

const CC = { grant_type: 'client_credentials' };
const MALFORMED = 'Malformed Basic credentials';
const CHALLENGE = 'Basic realm="oauth"';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const CB_BARE = 'https://bare.example/cb';

/** Clients whose ids need the form encoding: `my app` (a space) and `x+y` (a plus sign). */
function withOddIds(options: Parameters<typeof makeProvider>[0] = {}) {
  const made = makeProvider(options);
  const odd = (id: string): Client => ({
    id,
    secretHash: OTHER_SECRET_HASH,
    redirectUris: [],
    grantTypes: ['client_credentials'],
    scopes: ['read'],
  });
  made.stores.addClient(odd('my app'));
  made.stores.addClient(odd('x+y'));
  return made.provider;
}

function expectOk(r: OAuthResponse): void {
  expect(r.status, r.body).toBe(200);
  expect(body(r).token_type).toBe('Bearer');
}

/** 401 invalid_client with the description, and the Basic challenge exactly when Basic was used. */
function expectInvalidClient(r: OAuthResponse, description: string, challenge: boolean): void {
  expect(r.status, r.body).toBe(401);
  expect(body(r).error).toBe('invalid_client');
  expect(body(r).error_description).toBe(description);
  expect(r.headers['WWW-Authenticate']).toBe(challenge ? CHALLENGE : undefined);
}

function expectInvalidRequest(r: OAuthResponse, description: string): void {
  expect(r.status, r.body).toBe(400);
  expect(body(r).error).toBe('invalid_request');
  expect(body(r).error_description).toBe(description);
  expect(r.headers['WWW-Authenticate']).toBeUndefined();
}

describe('reading the Basic header', () => {
  it('takes the scheme name in any case', async () => {
    const { provider } = makeProvider();
    const creds = basic('conf', SECRET).slice('Basic '.length);
    for (const scheme of ['basic', 'BASIC', 'bAsIc']) expectOk(await provider.token(form(CC, { authorization: `${scheme} ${creds}` })));
  });
  it('takes several spaces before and after the credentials, none inside them', async () => {
    const { provider } = makeProvider();
    const creds = basic('conf', SECRET).slice('Basic '.length);
    expectOk(await provider.token(form(CC, { authorization: `Basic   ${creds}  ` })));
    const split = `Basic ${creds.slice(0, 8)} ${creds.slice(8)}`;
    expectInvalidClient(await provider.token(form(CC, { authorization: split })), MALFORMED, true);
  });
  it('trims spaces only: CR/LF, NUL or a tab around the credentials make them malformed (401, RFC 6749 JSON)', async () => {
    const { provider } = makeProvider();
    const creds = basic('conf', SECRET).slice('Basic '.length);
    for (const authorization of [
      `Basic ${creds}\r\n`,
      `Basic ${creds}\0`,
      `Basic ${creds} \t`,
      `Basic  \0${creds}`,
      `Basic \r\n ${creds}`,
    ]) {
      const r = await provider.token(form(CC, { authorization }));
      expectInvalidClient(r, MALFORMED, true);
      expect(r.headers['Content-Type']).toMatch(/^application\/json/);
    }
  });
  it('refuses a header whose scheme is not followed by a space', async () => {
    const { provider } = makeProvider();
    const creds = basic('conf', SECRET).slice('Basic '.length);
    for (const authorization of [`Basic\t${creds}`, `Basic:${creds}`, 'Basic']) {
      expectInvalidClient(await provider.token(form(CC, { authorization })), MALFORMED, true);
    }
  });
  it('refuses text that is not Base64, Base64 without a colon, and an empty id', async () => {
    const { provider } = makeProvider();
    for (const authorization of ['Basic !!!!', 'Basic a=b', `Basic ${b64('conf')}`, `Basic ${b64(`:${OTHER_SECRET}`)}`, 'Basic  ']) {
      expectInvalidClient(await provider.token(form(CC, { authorization })), MALFORMED, true);
    }
  });
  it('form-decodes the id: + is a space, %2B a plus sign', async () => {
    const provider = withOddIds();
    expectOk(await provider.token(form(CC, { authorization: basic('my app', OTHER_SECRET) })));
    expectOk(await provider.token(form(CC, { authorization: basic('x+y', OTHER_SECRET) })));
    // Sent without the encoding, `x+y` reads as `x y`: no such client.
    expectInvalidClient(
      await provider.token(form(CC, { authorization: `Basic ${b64(`x+y:${OTHER_SECRET}`)}` })),
      'Client authentication failed',
      true,
    );
    expectInvalidClient(
      await provider.token(form(CC, { authorization: `Basic ${b64('my+app:other+secret')}` })),
      'Client authentication failed',
      true,
    );
  });
  it('refuses an id or a secret that is not valid form encoding', async () => {
    const { provider } = makeProvider();
    for (const pair of ['conf:%zz', '%zz:secret', 'conf:a%', 'co%E0%A4nf:x']) {
      expectInvalidClient(await provider.token(form(CC, { authorization: `Basic ${b64(pair)}` })), MALFORMED, true);
    }
  });
  it('is not Basic when the header names another scheme: no credentials at all', async () => {
    const { provider } = makeProvider();
    for (const authorization of ['Bearer abc', 'Basicx abc', 'Digest username="conf"', '', ' Basic abc', '(Basic) abc']) {
      expectInvalidClient(await provider.token(form(CC, { authorization })), 'Client authentication is required', false);
    }
  });
});

describe('a secret with a plus sign (+ is a space in form encoding)', () => {
  const PLUS = 'plus+secret'.padEnd(40, 'q');
  function plusProvider(options: Parameters<typeof makeProvider>[0] = {}) {
    const made = makeProvider(options);
    const secretHash = hashSecret(PLUS);
    made.stores.addClient({ id: 'plus', secretHash, redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read'] });
    return made.provider;
  }
  const raw = `Basic ${b64(`plus:${PLUS}`)}`;
  it('strict: only the form-encoded secret authenticates', async () => {
    const provider = plusProvider();
    expectOk(await provider.token(form(CC, { authorization: basic('plus', PLUS) })));
    expectInvalidClient(await provider.token(form(CC, { authorization: raw })), 'Client authentication failed', true);
  });
  it('lenient: the secret as sent authenticates too', async () => {
    const provider = plusProvider({ lenientBasicAuth: true });
    expectOk(await provider.token(form(CC, { authorization: raw })));
    expectOk(await provider.token(form(CC, { authorization: basic('plus', PLUS) })));
  });
});

describe('a client whose secret is hashed with scrypt (hashPassword): its check is waited for', () => {
  // `passwordHash` is hashPassword('correct horse'); SHA-256 and HMAC hashes are checked at once.
  const SLOW = 'correct horse';
  function scryptProvider(options: Parameters<typeof makeProvider>[0] = {}) {
    const made = makeProvider(options);
    made.stores.addClient({ id: 'slow', secretHash: passwordHash, redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read'] });
    return made.provider;
  }
  it('Basic: the right secret authenticates, a wrong one is refused', async () => {
    const provider = scryptProvider();
    expectOk(await provider.token(form(CC, { authorization: basic('slow', SLOW) })));
    expectInvalidClient(
      await provider.token(form(CC, { authorization: basic('slow', 'correct horsf') })),
      'Client authentication failed',
      true,
    );
  });
  it('client_secret_post: the right secret authenticates, a wrong one is refused', async () => {
    const provider = scryptProvider();
    expectOk(await provider.token(form({ ...CC, client_id: 'slow', client_secret: SLOW })));
    expectInvalidClient(
      await provider.token(form({ ...CC, client_id: 'slow', client_secret: 'correct horsf' })),
      'Client authentication failed',
      false,
    );
  });
  it('lenient Basic: the secret as sent authenticates; a secret wrong in both readings is refused', async () => {
    const made = makeProvider({ lenientBasicAuth: true });
    const PLUS = 'plus+horse';
    made.stores.addClient({
      id: 'slow-plus',
      secretHash: await hashPassword(PLUS),
      redirectUris: [],
      grantTypes: ['client_credentials'],
      scopes: ['read'],
    });
    const provider = made.provider;
    // Sent without the form encoding: the raw reading is the secret, the decoded one ('plus horse') is not.
    expectOk(await provider.token(form(CC, { authorization: `Basic ${b64(`slow-plus:${PLUS}`)}` })));
    // 'plus+horsf' reads as 'plus+horsf' raw and 'plus horsf' decoded: neither is the secret.
    expectInvalidClient(
      await provider.token(form(CC, { authorization: `Basic ${b64('slow-plus:plus+horsf')}` })),
      'Client authentication failed',
      true,
    );
  });
});

describe('the method', () => {
  it('is POST only: 405 with Allow: POST and its description', async () => {
    const { provider } = makeProvider();
    const r = await provider.token({ method: 'GET', url: '/oauth/token?grant_type=client_credentials', headers: {} });
    expect(r.status).toBe(405);
    expect(r.headers.Allow).toBe('POST');
    expect(body(r)).toEqual({ error: 'invalid_request', error_description: 'Use POST' });
  });
});

describe('which methods a request may use', () => {
  it('refuses Basic together with client_secret', async () => {
    const { provider } = makeProvider();
    const r = await provider.token(form({ ...CC, client_secret: SECRET }, { authorization: basic('conf', SECRET) }));
    expectInvalidRequest(r, 'Use one client authentication method, not both Basic and client_secret');
  });
  it('takes a client_id equal to the Basic id, refuses another', async () => {
    const { provider } = makeProvider();
    expectOk(await provider.token(form({ ...CC, client_id: 'conf' }, { authorization: basic('conf', SECRET) })));
    expectInvalidRequest(
      await provider.token(form({ ...CC, client_id: 'other' }, { authorization: basic('conf', SECRET) })),
      'client_id does not match the Basic credentials',
    );
  });
  it('authenticates with client_secret in the body, without the Basic challenge when it fails', async () => {
    const { provider } = makeProvider();
    expectOk(await provider.token(form({ ...CC, client_id: 'conf', client_secret: SECRET })));
    expectInvalidClient(
      await provider.token(form({ ...CC, client_id: 'conf', client_secret: 'wrong' })),
      'Client authentication failed',
      false,
    );
    expectInvalidClient(await provider.token(form({ ...CC, client_id: 'conf' })), 'Client authentication failed', false);
    expectInvalidClient(
      await provider.token(form({ ...CC, client_id: 'nobody', client_secret: SECRET })),
      'Client authentication failed',
      false,
    );
    expectInvalidClient(await provider.token(form(CC)), 'Client authentication is required', false);
  });
  it('refuses a secret from a public client, by either method', async () => {
    const { provider } = makeProvider();
    const refresh = { grant_type: 'refresh_token', refresh_token: 'x' };
    expectInvalidClient(
      await provider.token(form({ ...refresh, client_id: 'pub', client_secret: 'x' })),
      'Client authentication failed',
      false,
    );
    expectInvalidClient(await provider.token(form(refresh, { authorization: basic('pub', 'x') })), 'Client authentication failed', true);
    // Without a secret the public client is authenticated, and the grant is what fails.
    const r = await provider.token(form({ ...refresh, client_id: 'pub' }));
    expect(r.status).toBe(400);
    expect(body(r).error).toBe('invalid_grant');
  });
});

// A JavaScript app or a database row can leave the field out although the type requires it.
describe('a client registered without any secretHash field', () => {
  it('is public: client_id alone authenticates it, and a secret is refused', async () => {
    const { provider, stores } = makeProvider();
    stores.addClient({ id: 'bare', redirectUris: [CB_BARE], grantTypes: ['refresh_token'], scopes: ['read'] } as unknown as Client);
    const refresh = { grant_type: 'refresh_token', refresh_token: 'x' };
    const r = await provider.token(form({ ...refresh, client_id: 'bare' }));
    expect(r.status, r.body).toBe(400);
    expect(body(r).error).toBe('invalid_grant');
    expectInvalidClient(await provider.token(form(refresh, { authorization: basic('bare', 'x') })), 'Client authentication failed', true);
  });
});

describe('lenient Basic credentials (lenientBasicAuth)', () => {
  const raw = (id: string, secret: string) => `Basic ${b64(`${id}:${secret}`)}`;
  it('accepts an id and a secret that were not form-encoded, and the encoded ones', async () => {
    const provider = withOddIds({ lenientBasicAuth: true });
    expectOk(await provider.token(form(CC, { authorization: raw('x+y', OTHER_SECRET) })));
    expectOk(await provider.token(form(CC, { authorization: basic('x+y', OTHER_SECRET) })));
    expectOk(await provider.token(form(CC, { authorization: raw('conf', SECRET) })));
    expectOk(await provider.token(form(CC, { authorization: basic('conf', SECRET) })));
  });
  it('still refuses a wrong secret, in either reading', async () => {
    const provider = withOddIds({ lenientBasicAuth: true });
    expectInvalidClient(
      await provider.token(form(CC, { authorization: raw('x+y', 'wrong+secret') })),
      'Client authentication failed',
      true,
    );
    expectInvalidClient(await provider.token(form(CC, { authorization: raw('conf', `${SECRET}%`) })), 'Client authentication failed', true);
    expectInvalidClient(await provider.token(form(CC, { authorization: raw('nobody', SECRET) })), 'Client authentication failed', true);
  });
  it('takes a client_id equal to the id as sent; strict mode does not', async () => {
    const lenient = withOddIds({ lenientBasicAuth: true });
    expectOk(await lenient.token(form({ ...CC, client_id: 'x+y' }, { authorization: raw('x+y', OTHER_SECRET) })));
    expectInvalidRequest(
      await lenient.token(form({ ...CC, client_id: 'x-y' }, { authorization: raw('x+y', OTHER_SECRET) })),
      'client_id does not match the Basic credentials',
    );
    const strict = withOddIds();
    expectInvalidRequest(
      await strict.token(form({ ...CC, client_id: 'x+y' }, { authorization: raw('x+y', OTHER_SECRET) })),
      'client_id does not match the Basic credentials',
    );
  });
  it('refuses a secret that is not valid form encoding only in strict mode', async () => {
    const { provider: strict } = makeProvider();
    expectInvalidClient(await strict.token(form(CC, { authorization: raw('conf', SECRET) })), MALFORMED, true);
  });
});

describe('the client id hooks see', () => {
  function recording(options: Parameters<typeof makeProvider>[0] = {}) {
    const claimed: (string | null)[] = [];
    const outcomes: HookOutcome[] = [];
    const { provider } = makeProvider({
      ...options,
      hooks: {
        beforeRequest: (ctx: HookContext) => {
          claimed.push(ctx.claimedClientId());
          return undefined;
        },
        afterRequest: (_ctx, outcome) => {
          outcomes.push(outcome);
          return undefined;
        },
      },
    });
    return { provider, claimed, outcomes };
  }
  const cases: [string, OAuthRequest, string | null][] = [
    ['the Basic id as sent when it is not valid form encoding', form(CC, { authorization: `Basic ${b64('%zz:x')}` }), '%zz'],
    ['the decoded Basic id', form(CC, { authorization: basic('my app', 'x') }), 'my app'],
    ['the form client_id when the Basic header is malformed', form({ ...CC, client_id: 'f-id' }, { authorization: 'Basic !!' }), 'f-id'],
    ['the form client_id when the header is another scheme', form({ ...CC, client_id: 'f-id' }, { authorization: 'Bearer x' }), 'f-id'],
  ];
  for (const [what, req, want] of cases) {
    it(`${what}, before and after`, async () => {
      const { provider, claimed, outcomes } = recording();
      const r = await provider.token(req);
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(claimed).toEqual([want]);
      expect(outcomes.map((o) => [o.valid, o.clientId])).toEqual([[false, want]]);
    });
  }
  it('nothing from the form body of a HEAD request', async () => {
    const { provider, claimed } = recording();
    await provider.token({
      method: 'HEAD',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'client_id=no',
    });
    expect(claimed).toEqual([null]);
  });
  it('the query client_id of a form POST whose body is malformed', async () => {
    const { provider, claimed } = recording();
    await provider.token(form({ grant_type: 'x' }, {}, '/oauth/token?client_id=q-id'));
    const repeated: OAuthRequest = {
      method: 'POST',
      url: '/oauth/token?client_id=q-id',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'client_id=a&client_id=b',
    };
    await provider.token(repeated);
    expect(claimed).toEqual(['q-id', 'q-id']);
  });
});
