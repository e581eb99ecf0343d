/**
 * Regression tests for the security issue: each case failed before its fix.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanDescription, requireOAuth, requireOAuthFetch, toFetchHandler, toNodeHandler, withOAuth } from '../../src/index.js';
import { basic, DESCRIPTION, form, json, ODD_SECRET, raw, SECRET, setup, userTokens } from './fixture.js';

/** The reproduction from the issue: a 55-character name holding a CR, sent twice. */
const LONG_CR = `${'a'.repeat(30)}%0D${'b'.repeat(24)}`;
const CRASH_BODY = `${LONG_CR}=1&${LONG_CR}=2`;

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<number> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

function send(
  port: number,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

describe('a parameter name with a CR cannot reach a header (the crash)', () => {
  it('requireOAuth on node:http answers 400 with a clean WWW-Authenticate, body and query alike', async () => {
    const { provider } = setup();
    const guard = requireOAuth(provider, 'read');
    const port = await listen((req, res) => guard(req, res, () => res.end('hi')));
    for (const [path, body] of [
      ['/api/me', CRASH_BODY],
      [`/api/me?access_token=x&${CRASH_BODY}`, undefined],
    ] as const) {
      const r = await send(port, 'POST', path, body, FORM);
      expect(r.status).toBe(400);
      const challenge = r.headers['www-authenticate'] as string;
      expect(challenge).toMatch(/^Bearer realm="oauth", error="invalid_request", error_description="[^"]*"$/);
      expect(challenge).toMatch(/^[\x20-\x7e]+$/);
      expect(json({ status: 400, headers: {}, body: r.body }).error_description).toMatch(DESCRIPTION);
    }
    // Still serving.
    expect((await send(port, 'GET', '/api/me')).status).toBe(401);
  });

  it('requireOAuthFetch answers 400 instead of rejecting', async () => {
    const { provider } = setup();
    const check = requireOAuthFetch(provider, 'read');
    const r = await check(new Request('http://127.0.0.1/api/me', { method: 'POST', headers: FORM, body: CRASH_BODY }));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.response.status).toBe(400);
    expect(r.response.headers.get('www-authenticate')).toMatch(/^[\x20-\x7e]+$/);
  });

  it('names in descriptions come from a closed set, also when short', async () => {
    const { provider } = setup();
    for (const name of ['a%0Db', 'a%00b', 'x%22y', 'x%5Cy', 'caf%C3%A9', 'a%0A'.repeat(30)]) {
      const r = await provider.token(raw(`${name}=1&${name}=2`, { authorization: basic('app', SECRET) }));
      expect(r.status).toBe(400);
      expect(json(r).error).toBe('invalid_request');
      expect(json(r).error_description).toMatch(DESCRIPTION);
    }
  });
});

describe('error_description uses only the characters RFC 6749 5.2 allows', () => {
  it('on the token, revocation and introspection endpoints', async () => {
    const { provider } = setup();
    const auth = { authorization: basic('app', SECRET) };
    const responses = [
      await provider.token(raw('grant_type=client_credentials&grant_type=client_credentials', auth)),
      await provider.revoke(raw('token=a&token=b', auth, '/oauth/revoke')),
      await provider.introspect(raw('token=a&token=b', auth, '/oauth/introspect')),
      await provider.token(form({ grant_type: 'client_credentials', scope: 'read ad"min' }, auth)),
      await provider.token(form({ grant_type: 'client_credentials', scope: 'admin' }, auth)),
    ];
    for (const r of responses) {
      expect(r.status).toBe(400);
      expect(json(r).error_description).toMatch(DESCRIPTION);
    }
    expect(json(responses[0]!).error_description).toBe("Parameter 'grant_type' was given more than once");
  });

  it('cleanDescription keeps clean text and maps the rest into the set', () => {
    expect(cleanDescription('Use POST')).toBe('Use POST');
    expect(cleanDescription('a "b" \\ c\r\n\u00e9')).toBe("a 'b' / c???");
    expect(cleanDescription('x'.repeat(500))).toHaveLength(200);
  });
});

describe('adapters answer whatever is thrown past them with a JSON 500', () => {
  it('node: an afterRequest hook answering with an invalid header value', async () => {
    const { provider } = setup({
      hooks: { afterRequest: () => ({ status: 403, headers: { 'X-Bad': 'a\r\nb' }, body: '{}' }) },
    });
    const port = await listen(toNodeHandler(provider) as Parameters<typeof createServer>[1]);
    const r = await send(port, 'POST', '/oauth/token', 'grant_type=client_credentials', FORM);
    expect(r.status).toBe(500);
    expect(JSON.parse(r.body)).toEqual({ error: 'server_error', error_description: 'The server could not complete the request' });
  });

  it('node without next: a throwing or rejecting route handler behind withOAuth', async () => {
    const { provider } = setup();
    const t = json(
      await provider.token(form({ grant_type: 'client_credentials', scope: 'read' }, { authorization: basic('app', SECRET) })),
    );
    const logged: string[] = [];
    provider.options.logger.error = (m) => logged.push(m);
    const sync = withOAuth(provider, ['read'], () => {
      throw new Error('boom');
    });
    const async = withOAuth(provider, ['read'], async () => {
      throw new Error('boom');
    });
    const port = await listen((req, res) => (req.url === '/sync' ? sync(req, res) : async(req, res)));
    for (const path of ['/sync', '/async']) {
      const r = await send(port, 'GET', path, undefined, { authorization: `Bearer ${t.access_token}` });
      expect(r.status).toBe(500);
      expect(JSON.parse(r.body).error).toBe('server_error');
    }
    expect(logged).toHaveLength(2);
  });

  it('fetch: a response header Fetch refuses becomes a 500, never a rejection', async () => {
    const { provider } = setup({
      hooks: { afterRequest: () => ({ status: 403, headers: { 'X-Bad': 'a\r\nb' }, body: '{}' }) },
    });
    const handler = toFetchHandler(provider);
    const r = await handler(new Request('http://127.0.0.1/oauth/token', { method: 'POST', headers: FORM, body: 'grant_type=x' }));
    expect(r?.status).toBe(500);
    expect(await r?.json()).toEqual({ error: 'server_error', error_description: 'The server could not complete the request' });
  });
});

describe('the Fetch adapter limits bodies as the node adapter does', () => {
  it('answers 413 for a declared Content-Length over the limit and for a streamed body over it', async () => {
    const { provider } = setup();
    const handler = toFetchHandler(provider, { bodyLimit: 1024 });
    const big = `grant_type=client_credentials&pad=${'x'.repeat(2000)}`;
    const declared = await handler(
      new Request('http://127.0.0.1/oauth/token', {
        method: 'POST',
        headers: { ...FORM, 'content-length': String(big.length) },
        body: big,
      }),
    );
    expect(declared?.status).toBe(413);
    expect(((await declared?.json()) as { error?: string } | undefined)?.error).toBe('invalid_request');
    const chunks = [new TextEncoder().encode('grant_type=client_credentials&pad='), new TextEncoder().encode('y'.repeat(4000))];
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        const next = chunks.shift();
        if (next) c.enqueue(next);
        else c.close();
      },
    });
    const streamed = await handler(
      new Request('http://127.0.0.1/oauth/token', { method: 'POST', headers: FORM, body: stream, duplex: 'half' } as RequestInit),
    );
    expect(streamed?.status).toBe(413);
    // Under the limit it is served.
    const ok = await handler(
      new Request('http://127.0.0.1/oauth/token', {
        method: 'POST',
        headers: { ...FORM, authorization: basic('app', SECRET) },
        body: 'grant_type=client_credentials&scope=read',
      }),
    );
    expect(ok?.status).toBe(200);
  });

  it('requireOAuthFetch answers 413 for a form body over 64 KiB', async () => {
    const { provider } = setup();
    const check = requireOAuthFetch(provider, 'read');
    const r = await check(new Request('http://127.0.0.1/api', { method: 'POST', headers: FORM, body: `a=${'x'.repeat(70_000)}` }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.response.status).toBe(413);
  });
});

describe('client authentication', () => {
  const cc = { grant_type: 'client_credentials' };
  it('holds a client that names its method to it', async () => {
    const { provider } = setup();
    const cases: [string, Record<string, string>, Record<string, string>, number][] = [
      ['basic-only', cc, { authorization: basic('basic-only', SECRET) }, 200],
      ['basic-only', { ...cc, client_id: 'basic-only', client_secret: SECRET }, {}, 401],
      ['post-only', { ...cc, client_id: 'post-only', client_secret: SECRET }, {}, 200],
      ['post-only', cc, { authorization: basic('post-only', SECRET) }, 401],
      // Naming none: either secret method.
      ['app', cc, { authorization: basic('app', SECRET) }, 200],
      ['app', { ...cc, client_id: 'app', client_secret: SECRET }, {}, 200],
    ];
    for (const [id, params, headers, status] of cases) {
      const r = await provider.token(form(params, headers));
      expect(r.status, id).toBe(status);
      if (status === 401) {
        expect(json(r).error).toBe('invalid_client');
        // Basic was tried: the challenge names Basic.
        if (headers.authorization) expect(r.headers['WWW-Authenticate']).toBe('Basic realm="oauth"');
      }
    }
  });

  it('answers a malformed Basic header 401 invalid_client with WWW-Authenticate: Basic', async () => {
    const { provider } = setup();
    const b64 = Buffer.from(`app:${SECRET}`).toString('base64');
    for (const authorization of [
      'Basic',
      'Basic ',
      `Basic\t${b64}`,
      'Basic !!!!',
      'Basic Zm9v',
      `Basic ${Buffer.from(`:${SECRET}`).toString('base64')}`,
    ]) {
      const r = await provider.token(form({ grant_type: 'client_credentials' }, { authorization }));
      expect(r.status, authorization).toBe(401);
      expect(json(r).error).toBe('invalid_client');
      expect(r.headers['WWW-Authenticate']).toBe('Basic realm="oauth"');
      expect(json(r).error_description).toMatch(DESCRIPTION);
    }
    // Another scheme is not Basic: no credentials at all.
    const other = await provider.token(form({ grant_type: 'client_credentials' }, { authorization: 'Digest abc' }));
    expect(other.status).toBe(401);
    expect(json(other).error_description).toBe('Client authentication is required');
  });

  it('accepts Basic credentials that skip the form encoding only in lenient mode', async () => {
    const undecoded = `Basic ${Buffer.from(`odd:${ODD_SECRET}`).toString('base64')}`;
    const strict = setup().provider;
    expect((await strict.token(form({ grant_type: 'client_credentials' }, { authorization: undecoded }))).status).toBe(401);
    expect((await strict.token(form({ grant_type: 'client_credentials' }, { authorization: basic('odd', ODD_SECRET) }))).status).toBe(200);
    const lenient = setup({ lenientBasicAuth: true }).provider;
    expect((await lenient.token(form({ grant_type: 'client_credentials' }, { authorization: undecoded }))).status).toBe(200);
    expect((await lenient.token(form({ grant_type: 'client_credentials' }, { authorization: basic('odd', ODD_SECRET) }))).status).toBe(200);
    const wrong = `Basic ${Buffer.from('odd:se:cr+et/%&= x').toString('base64')}`;
    expect((await lenient.token(form({ grant_type: 'client_credentials' }, { authorization: wrong }))).status).toBe(401);
  });
});

describe('revocation answers 200 with a JSON body', () => {
  it('for a known and an unknown token', async () => {
    const { provider } = setup();
    const t = await userTokens(provider);
    for (const token of [t.access_token, 'unknown']) {
      const r = await provider.revoke(form({ token }, { authorization: basic('app', SECRET) }, '/oauth/revoke'));
      expect(r.status).toBe(200);
      expect(r.headers['Content-Type']).toMatch(/^application\/json/);
      expect(JSON.parse(r.body)).toEqual({});
    }
  });
});

describe('introspection shows a caller only what it may see (RFC 7662 section 4)', () => {
  it("answers inactive for another client's tokens, unless the caller is a resource server", async () => {
    const { provider } = setup();
    const t = await userTokens(provider);
    const ask = (id: string, token: string) =>
      provider.introspect(form({ token }, { authorization: basic(id, SECRET) }, '/oauth/introspect'));
    for (const token of [t.access_token, t.refresh_token]) {
      const peer = await ask('peer', token);
      expect(peer.status).toBe(200);
      expect(json(peer)).toEqual({ active: false });
      expect(json(await ask('app', token))).toMatchObject({ active: true, client_id: 'app', sub: 'u1' });
      expect(json(await ask('rs', token))).toMatchObject({ active: true, client_id: 'app', sub: 'u1' });
    }
  });
});

describe('refresh requests are checked before the refresh token is used up', () => {
  const refresh = (provider: ReturnType<typeof setup>['provider'], token: string, extra: Record<string, string> = {}, id = 'app') =>
    provider.token(form({ grant_type: 'refresh_token', refresh_token: token, ...extra }, { authorization: basic(id, SECRET) }));

  it('an invalid_scope refresh leaves the token usable and the family alive', async () => {
    const { provider } = setup();
    const t = await userTokens(provider, 'read');
    const bad = await refresh(provider, t.refresh_token, { scope: 'read write' });
    expect(bad.status).toBe(400);
    expect(json(bad).error).toBe('invalid_scope');
    const retry = await refresh(provider, t.refresh_token);
    expect(retry.status).toBe(200);
    // The access token of the first exchange is still alive: nothing was revoked.
    const check = await provider.verifyAccessToken({ method: 'GET', url: '/', headers: { authorization: `Bearer ${t.access_token}` } });
    expect(check.ok).toBe(true);
  });

  it('narrowing scope narrows the access token only; the new refresh token keeps the grant', async () => {
    const { provider } = setup();
    const t = await userTokens(provider, 'read write');
    const narrow = json(await refresh(provider, t.refresh_token, { scope: 'read' }));
    expect(narrow.scope).toBe('read');
    const again = await refresh(provider, narrow.refresh_token as string, { scope: 'read write' });
    expect(again.status).toBe(200);
    expect(json(again).scope).toBe('read write');
    const intro = json(
      await provider.introspect(
        form({ token: narrow.access_token as string }, { authorization: basic('app', SECRET) }, '/oauth/introspect'),
      ),
    );
    expect(intro.scope).toBe('read');
  });

  it("another client's use of a refresh token still revokes its family", async () => {
    const { provider } = setup();
    const t = await userTokens(provider);
    const stolen = await refresh(provider, t.refresh_token, {}, 'peer');
    expect(stolen.status).toBe(400);
    expect(json(stolen).error).toBe('invalid_grant');
    expect(json(await refresh(provider, t.refresh_token)).error).toBe('invalid_grant');
  });
});
