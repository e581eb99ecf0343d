/**
 * The Fetch adapter case by case: which requests have their body read (method, content type in any
 * case, parameters after it), the default and explicit body limits (declared or streamed, exact
 * sizes taken), a body that fails while streaming, header values Fetch refuses, the logger, and
 * `requireOAuthFetch`'s answers.
 */
import { describe, expect, it } from 'vitest';
import { FetchBodyTooLargeError, fromFetchRequest, requireOAuthFetch, toFetchHandler, toFetchResponse } from '../../src/index.js';
import { basic, form, makeProvider, SECRET } from '../helpers.js';

const FORM = 'application/x-www-form-urlencoded';
const AS = 'https://as.example';
const SERVER_ERROR = { error: 'server_error', error_description: 'The server could not complete the request' };
const TOO_LARGE = { error: 'invalid_request', error_description: 'The request body is too large' };

/** A streamed body (no Content-Length) that fails after its first chunk. */
function failingBody(): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    pull(c) {
      if (sent) c.error(new Error('connection reset'));
      else {
        sent = true;
        c.enqueue(new TextEncoder().encode('grant_type='));
      }
    },
  });
}

function recordingLogger(throws = false) {
  const errors: [string, Record<string, unknown> | undefined][] = [];
  return {
    errors,
    logger: {
      warn: () => undefined,
      error: (m: string, meta?: Record<string, unknown>) => {
        errors.push([m, meta]);
        if (throws) throw new Error('logger down');
      },
    },
  };
}

describe('fromFetchRequest', () => {
  it('reads a form body whatever the case of the content type, with parameters after it', async () => {
    for (const type of ['Application/X-WWW-Form-Urlencoded', `${FORM}; charset=UTF-8`]) {
      const r = await fromFetchRequest(new Request(`${AS}/t`, { method: 'POST', headers: { 'content-type': type }, body: 'a=%C3%A9' }));
      expect(r.body, type).toBe('a=%C3%A9');
    }
  });
  it('decodes the body as UTF-8, across chunks', async () => {
    const bytes = new TextEncoder().encode('a=\u00e9\u20ac');
    const chunks = [bytes.slice(0, 3), bytes.slice(3)];
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        const next = chunks.shift();
        if (next) c.enqueue(next);
        else c.close();
      },
    });
    const init = { method: 'POST', headers: { 'content-type': FORM }, body: stream, duplex: 'half' } as RequestInit;
    expect((await fromFetchRequest(new Request(`${AS}/t`, init))).body).toBe('a=\u00e9\u20ac');
  });
  it('does not read the body of HEAD or of a POST without a content type, and names the method in upper case', async () => {
    const head = await fromFetchRequest(new Request(`${AS}/t?x=1`, { method: 'HEAD', headers: { 'content-type': FORM } }));
    expect(head).toStrictEqual({ method: 'HEAD', url: '/t?x=1', headers: { 'content-type': FORM } });
    expect('body' in head).toBe(false);
    const untyped = await fromFetchRequest(new Request(`${AS}/t`, { method: 'POST', body: new Uint8Array([97]) }));
    expect(untyped).toEqual({ method: 'POST', url: '/t', headers: {} });
    const patch = await fromFetchRequest(new Request(`${AS}/t`, { method: 'patch', headers: { 'content-type': FORM }, body: 'a=1' }));
    expect(patch.method).toBe('PATCH');
    expect(patch.body).toBe('a=1');
  });
  it('gives an empty body for a form POST that has none', async () => {
    const r = await fromFetchRequest(new Request(`${AS}/t`, { method: 'POST', headers: { 'content-type': FORM } }));
    expect(r).toEqual({ method: 'POST', url: '/t', headers: { 'content-type': FORM }, body: '' });
  });
  it('keeps 64 KiB as the default limit', async () => {
    const limit = 65536;
    const at = new Request(`${AS}/t`, { method: 'POST', headers: { 'content-type': FORM }, body: 'a'.repeat(limit) });
    expect((await fromFetchRequest(at)).body).toHaveLength(limit);
    const over = new Request(`${AS}/t`, { method: 'POST', headers: { 'content-type': FORM }, body: 'a'.repeat(limit + 1) });
    await expect(fromFetchRequest(over)).rejects.toBeInstanceOf(FetchBodyTooLargeError);
    const declared = new Request(`${AS}/t`, {
      method: 'POST',
      headers: { 'content-type': FORM, 'content-length': String(limit + 1) },
      body: 'a=1',
    });
    await expect(fromFetchRequest(declared)).rejects.toBeInstanceOf(FetchBodyTooLargeError);
  });
  it('takes a declared length equal to the limit, and ignores one that is not a number', async () => {
    const exact = new Request(`${AS}/t`, { method: 'POST', headers: { 'content-type': FORM, 'content-length': '10' }, body: 'a=12345678' });
    expect((await fromFetchRequest(exact, { bodyLimit: 10 })).body).toBe('a=12345678');
    const odd = new Request(`${AS}/t`, { method: 'POST', headers: { 'content-type': FORM, 'content-length': '1e3' }, body: 'a=1' });
    expect((await fromFetchRequest(odd, { bodyLimit: 10 })).body).toBe('a=1');
  });
  it('rejects with the error of a body that fails while streaming', async () => {
    const init = { method: 'POST', headers: { 'content-type': FORM }, body: failingBody(), duplex: 'half' } as RequestInit;
    await expect(fromFetchRequest(new Request(`${AS}/t`, init))).rejects.toThrow('connection reset');
  });
  it('FetchBodyTooLargeError names itself', () => {
    expect(new FetchBodyTooLargeError()).toMatchObject({
      name: 'FetchBodyTooLargeError',
      code: 'BODY_TOO_LARGE',
      message: TOO_LARGE.error_description,
    });
  });
});

describe('toFetchResponse', () => {
  it('answers 500 server_error when Fetch refuses a header value', async () => {
    const r = toFetchResponse({ status: 200, headers: { 'X-Bad': 'a\nb' }, body: 'secret' });
    expect(r.status).toBe(500);
    expect(r.headers.get('X-Bad')).toBeNull();
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await r.json()).toEqual(SERVER_ERROR);
  });
  it('keeps status, headers and body otherwise', async () => {
    const r = toFetchResponse({ status: 401, headers: { 'WWW-Authenticate': 'Bearer' }, body: '{"error":"invalid_token"}' });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe('Bearer');
    expect(await r.text()).toBe('{"error":"invalid_token"}');
  });
});

describe('toFetchHandler', () => {
  it('serves a token request with its JSON answer', async () => {
    const { provider } = makeProvider();
    const req = form({ grant_type: 'client_credentials' }, { authorization: basic('conf', SECRET) });
    const r = await toFetchHandler(provider)(
      new Request(`${AS}/oauth/token`, { method: 'POST', headers: req.headers as Record<string, string>, body: req.body }),
    );
    expect(r?.status).toBe(200);
    expect(r?.headers.get('cache-control')).toBe('no-store');
    expect(((await r!.json()) as { token_type: string }).token_type).toBe('Bearer');
  });
  it('answers null for another path before reading its body, however large', async () => {
    const { provider } = makeProvider();
    const big = new Request(`${AS}/elsewhere`, { method: 'POST', headers: { 'content-type': FORM }, body: 'a'.repeat(100) });
    expect(await toFetchHandler(provider, { bodyLimit: 4 })(big)).toBeNull();
  });
  it('answers 413 with Connection: close and the JSON error', async () => {
    const { provider } = makeProvider();
    const r = await toFetchHandler(provider, { bodyLimit: 4 })(
      new Request(`${AS}/oauth/token`, { method: 'POST', headers: { 'content-type': FORM }, body: 'grant_type=x' }),
    );
    expect(r?.status).toBe(413);
    expect(r?.headers.get('connection')).toBe('close');
    expect(await r?.json()).toEqual(TOO_LARGE);
  });
  it('answers 500 server_error for a body that fails, and logs it', async () => {
    const { logger, errors } = recordingLogger();
    const { provider } = makeProvider({ logger });
    const init = { method: 'POST', headers: { 'content-type': FORM }, body: failingBody(), duplex: 'half' } as RequestInit;
    const r = await toFetchHandler(provider)(new Request(`${AS}/oauth/token`, init));
    expect(r?.status).toBe(500);
    expect(await r?.json()).toEqual(SERVER_ERROR);
    expect(errors).toHaveLength(1);
    expect(errors[0]![0]).toBe('adapter: a request failed');
    expect(JSON.stringify(errors[0]![1])).toContain('connection reset');
  });
  it('still answers 500 when the logger throws', async () => {
    const { logger, errors } = recordingLogger(true);
    const { provider } = makeProvider({ logger });
    const init = { method: 'POST', headers: { 'content-type': FORM }, body: failingBody(), duplex: 'half' } as RequestInit;
    const r = await toFetchHandler(provider)(new Request(`${AS}/oauth/token`, init));
    expect(r?.status).toBe(500);
    expect(await r?.json()).toEqual(SERVER_ERROR);
    expect(errors).toHaveLength(1);
  });
});

describe('requireOAuthFetch', () => {
  async function token(provider: ReturnType<typeof makeProvider>['provider'], scope: string) {
    const r = await provider.token(form({ grant_type: 'client_credentials', scope }, { authorization: basic('conf', SECRET) }));
    return JSON.parse(r.body).access_token as string;
  }
  it('hands back the verified token when it has every scope', async () => {
    const { provider } = makeProvider();
    const t = await token(provider, 'read write');
    const r = await requireOAuthFetch(provider, 'read', 'write')(new Request(`${AS}/api`, { headers: { authorization: `Bearer ${t}` } }));
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.token).toMatchObject({ clientId: 'conf', scopes: ['read', 'write'] });
  });
  it('answers 401 without a token and 403 insufficient_scope for a missing scope', async () => {
    const { provider } = makeProvider();
    const check = requireOAuthFetch(provider, 'write');
    const none = await check(new Request(`${AS}/api`));
    expect(none.ok).toBe(false);
    if (!none.ok) {
      expect(none.response.status).toBe(401);
      expect(none.response.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    const t = await token(provider, 'read');
    const narrow = await check(new Request(`${AS}/api`, { headers: { authorization: `Bearer ${t}` } }));
    expect(narrow.ok).toBe(false);
    if (!narrow.ok) {
      expect(narrow.response.status).toBe(403);
      expect(narrow.response.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    }
  });
  it('answers 413 for a form body over the default limit, 500 for one that fails', async () => {
    const { logger, errors } = recordingLogger();
    const { provider } = makeProvider({ logger });
    const check = requireOAuthFetch(provider, 'read');
    const big = await check(new Request(`${AS}/api`, { method: 'POST', headers: { 'content-type': FORM }, body: 'a'.repeat(65537) }));
    expect(big.ok).toBe(false);
    if (!big.ok) {
      expect(big.response.status).toBe(413);
      expect(await big.response.json()).toEqual(TOO_LARGE);
    }
    expect(errors).toHaveLength(0);
    const init = { method: 'POST', headers: { 'content-type': FORM }, body: failingBody(), duplex: 'half' } as RequestInit;
    const broken = await check(new Request(`${AS}/api`, init));
    expect(broken.ok).toBe(false);
    if (!broken.ok) {
      expect(broken.response.status).toBe(500);
      expect(await broken.response.json()).toEqual(SERVER_ERROR);
    }
    expect(errors.map((e) => e[0])).toEqual(['adapter: a request failed']);
  });
});
