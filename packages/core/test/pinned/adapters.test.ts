/**
 * The node:http and Fetch adapters without a server: which bodies are read and how, the answers
 * they give themselves (404, 413, 400, 500), and the Fetch response bodies. Fake requests and
 * responses keep each case to one tick of work.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  BodyTooLargeError,
  FetchBodyTooLargeError,
  fromFetchRequest,
  type NodeRequest,
  sendResponse,
  toFetchHandler,
  toFetchResponse,
  toNodeHandler,
  toOAuthRequest,
} from '../../src/index.js';
import { basic, makeProvider, SECRET } from '../helpers.js';

const FORM = 'application/x-www-form-urlencoded';

/** A request stream with the fields node:http sets. */
function nodeRequest(init: {
  method?: string;
  url?: string;
  originalUrl?: string;
  headers?: Record<string, string>;
  chunks?: string[];
  body?: unknown;
  fail?: boolean;
}): NodeRequest {
  const stream = init.fail
    ? new Readable({
        read() {
          this.destroy(new Error('socket hang up'));
        },
      })
    : Readable.from((init.chunks ?? []).map((c) => Buffer.from(c)));
  return Object.assign(stream, {
    method: init.method,
    url: init.url,
    originalUrl: init.originalUrl,
    headers: init.headers ?? {},
    body: init.body,
    socket: { remoteAddress: '10.0.0.1' },
  }) as unknown as NodeRequest;
}

/** A response that records what is written to it. */
function nodeResponse(opts: { refuseHeaders?: boolean } = {}) {
  const out = { status: 0, headers: {} as Record<string, string | number>, body: '', ended: false, set: {} as Record<string, string> };
  const res = {
    headersSent: false,
    writableEnded: false,
    setHeader(name: string, value: string) {
      out.set[name] = value;
    },
    getHeaderNames: () => Object.keys(out.set),
    removeHeader(name: string) {
      delete out.set[name];
    },
    writeHead(status: number, headers: Record<string, string>) {
      if (opts.refuseHeaders && out.status === 0 && Object.values(headers).some((v) => v.includes('\n'))) {
        throw new TypeError('Invalid character in header content');
      }
      out.status = status;
      out.headers = { ...out.set, ...headers };
      res.headersSent = true;
    },
    end(body?: string) {
      out.body = body ?? '';
      out.ended = true;
      res.writableEnded = true;
    },
    destroy() {
      out.ended = true;
    },
  };
  return { res: res as unknown as Parameters<typeof sendResponse>[0], out };
}

describe('toOAuthRequest', () => {
  it('takes a body a framework parsed: a string, a Buffer, or an object', async () => {
    const base = { method: 'POST', url: '/oauth/token', headers: { 'content-type': FORM } };
    expect(await toOAuthRequest(nodeRequest({ ...base, body: 'a=1' }))).toMatchObject({ body: 'a=1', remoteAddress: '10.0.0.1' });
    expect((await toOAuthRequest(nodeRequest({ ...base, body: Buffer.from('b=2') }))).body).toBe('b=2');
    const parsed = await toOAuthRequest(nodeRequest({ ...base, body: { c: '3' } }));
    expect(parsed.parsedBody).toEqual({ c: '3' });
    expect(parsed.body).toBeUndefined();
  });
  it('reads a form body from the stream, in one chunk or many', async () => {
    for (const chunks of [['grant_type=client_credentials'], ['grant_type=', 'client_', 'credentials']]) {
      const r = await toOAuthRequest(
        nodeRequest({ method: 'POST', url: '/t', headers: { 'content-type': `${FORM}; charset=UTF-8` }, chunks }),
      );
      expect(r).toMatchObject({ method: 'POST', url: '/t', body: 'grant_type=client_credentials' });
    }
  });
  it('does not read the body of GET, HEAD, or a request that is neither a form nor JSON', async () => {
    const json = await toOAuthRequest(
      nodeRequest({ method: 'POST', url: '/t', headers: { 'content-type': 'application/json' }, chunks: ['{}'] }),
    );
    expect(json.body).toBe('{}');
    for (const [method, type] of [
      ['GET', FORM],
      ['HEAD', FORM],
      ['POST', 'text/plain'],
      ['POST', undefined],
    ] as const) {
      const headers: Record<string, string> = type ? { 'content-type': type } : {};
      const r = await toOAuthRequest(nodeRequest({ method, url: '/t', headers, chunks: ['x=1'] }));
      expect(r.body, `${method} ${type}`).toBeUndefined();
      expect(r.method).toBe(method);
    }
  });
  it('uses originalUrl (before a mount path was stripped), then url, then /', async () => {
    expect((await toOAuthRequest(nodeRequest({ method: 'GET', originalUrl: '/oauth/token?x', url: '/token' }))).url).toBe('/oauth/token?x');
    expect((await toOAuthRequest(nodeRequest({ method: 'GET', url: '/token' }))).url).toBe('/token');
    const bare = await toOAuthRequest(nodeRequest({}));
    expect(bare.url).toBe('/');
    expect(bare.method).toBe('GET');
  });
  it('refuses a body over bodyLimit with BodyTooLargeError', async () => {
    const req = nodeRequest({ method: 'POST', url: '/t', headers: { 'content-type': FORM }, chunks: ['a'.repeat(10), 'b'.repeat(10)] });
    const err = await toOAuthRequest(req, { bodyLimit: 15 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BodyTooLargeError);
    expect(err).toMatchObject({ code: 'BODY_TOO_LARGE', name: 'BodyTooLargeError', message: 'The request body is too large' });
    const exact = nodeRequest({ method: 'POST', url: '/t', headers: { 'content-type': FORM }, chunks: ['a'.repeat(15)] });
    expect((await toOAuthRequest(exact, { bodyLimit: 15 })).body).toBe('a'.repeat(15));
  });
});

describe('toNodeHandler answers of its own', () => {
  it('404 JSON for a path it does not serve, without next; next() with one', async () => {
    const { provider } = makeProvider();
    const handler = toNodeHandler(provider);
    const { res, out } = nodeResponse();
    expect(handler(nodeRequest({ method: 'GET', url: '/elsewhere' }), res)).toBeUndefined();
    expect(out.status).toBe(404);
    expect(JSON.parse(out.body)).toEqual({ error: 'not_found' });
    let called = 0;
    const second = nodeResponse();
    handler(nodeRequest({ method: 'GET', url: '/elsewhere' }), second.res, () => void called++);
    expect(called).toBe(1);
    expect(second.out.status).toBe(0);
  });
  it('serves a token request read from the stream', async () => {
    const { provider } = makeProvider();
    const { res, out } = nodeResponse();
    await toNodeHandler(provider)(
      nodeRequest({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': FORM, authorization: basic('conf', SECRET) },
        chunks: ['grant_type=client_credentials'],
      }),
      res,
    );
    expect(out.status).toBe(200);
    expect(JSON.parse(out.body).token_type).toBe('Bearer');
  });
  it('413 with Connection: close for a body over the limit', async () => {
    const { provider } = makeProvider();
    const { res, out } = nodeResponse();
    await toNodeHandler(provider, { bodyLimit: 8 })(
      nodeRequest({ method: 'POST', url: '/oauth/token', headers: { 'content-type': FORM }, chunks: ['grant_type=client_credentials'] }),
      res,
    );
    expect(out.status).toBe(413);
    expect(out.headers.Connection).toBe('close');
    expect(JSON.parse(out.body)).toEqual({ error: 'invalid_request', error_description: 'The request body is too large' });
  });
  it('answers an oversized body once: the rest of the stream reaches neither the endpoint nor a data listener', async () => {
    const { provider } = makeProvider();
    let reached = 0;
    provider.beforeRequest(() => {
      reached++;
      return undefined;
    });
    const { res, out } = nodeResponse();
    const req = nodeRequest({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': FORM },
      chunks: ['grant_type=', 'client_credentials', '&scope=read', '&x=1'],
    });
    await toNodeHandler(provider, { bodyLimit: 12 })(req, res);
    // The stream is drained after the 413: let it end, then look.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(out.status).toBe(413);
    expect(reached).toBe(0);
    expect(req.listenerCount('data')).toBe(0);
  });
  it('keeps the method of a request whose form body it read, and copes without a socket', async () => {
    const { provider } = makeProvider();
    const put = nodeResponse();
    const req = nodeRequest({
      method: 'PUT',
      url: '/oauth/token',
      headers: { 'content-type': FORM, authorization: basic('conf', SECRET) },
      chunks: ['grant_type=client_credentials'],
    });
    await toNodeHandler(provider)(req, put.res);
    expect(put.out.status).toBe(405);
    const bare = nodeRequest({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': FORM, authorization: basic('conf', SECRET) },
      chunks: ['grant_type=client_credentials'],
    });
    (bare as unknown as { socket: undefined }).socket = undefined;
    const ok = nodeResponse();
    await toNodeHandler(provider)(bare, ok.res);
    expect(ok.out.status).toBe(200);
  });
  it('hostile form bodies read from the stream: RFC 6749 JSON errors, unknown names ignored, never a 5xx', async () => {
    const { provider } = makeProvider();
    const auth = { authorization: basic('conf', SECRET) };
    // The status each case gets: an unrecognized parameter is ignored (RFC 6749 section 3.2), whatever its name.
    const cases: [string, Record<string, string>, string[], number][] = [
      ['NUL in a value', { 'content-type': FORM, ...auth }, ['grant_type=client_credentials&scope=re%00ad'], 400],
      ['CR/LF in a value', { 'content-type': FORM, ...auth }, ['grant_type=client_cre', 'dentials%0D%0AX: 1'], 400],
      ['NUL and CR/LF in a name', { 'content-type': FORM, ...auth }, ['grant_type=client_credentials&sc%00ope%0D%0A=read'], 200],
      ['a repeated parameter', { 'content-type': FORM, ...auth }, ['grant_type=client_credentials&grant_type=password'], 400],
      ['bad percent-encoding', { 'content-type': FORM, ...auth }, ['grant_type=%ZZ'], 400],
      ['a JSON body at the token endpoint', { 'content-type': 'application/json', ...auth }, ['{"grant_type":"client_credentials"}'], 400],
    ];
    for (const [what, headers, chunks, status] of cases) {
      const { res, out } = nodeResponse();
      await toNodeHandler(provider)(nodeRequest({ method: 'POST', url: '/oauth/token', headers, chunks }), res);
      expect(out.status, what).toBe(status);
      const body = JSON.parse(out.body) as { error?: string; error_description?: string };
      if (status !== 200) expect(body.error, what).toMatch(/^[a-z_]+$/);
      if (body.error_description !== undefined) expect(body.error_description, what).toMatch(/^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/);
      for (const v of Object.values(out.headers)) expect(String(v), what).not.toMatch(/[\r\n\0]/);
    }
  });
  it('a request object that throws once its body is read is answered 500, not thrown from the stream callback', async () => {
    const logged: string[] = [];
    const logger = {
      debug() {},
      info() {},
      warn() {},
      error: (m: string, meta?: Record<string, unknown>) => void logged.push(`${m}: ${String(meta?.cause)}`),
    };
    const { provider } = makeProvider({ logger });
    const req = nodeRequest({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': FORM, authorization: basic('conf', SECRET) },
      chunks: ['grant_type=client_credentials'],
    });
    // A framework's getter that works while the request is routed and fails after the body is read.
    let reads = 0;
    Object.defineProperty(req, 'socket', {
      get() {
        if (++reads > 1) throw new Error('socket getter failed');
        return { remoteAddress: '10.0.0.1' };
      },
    });
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => void uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const { res, out } = nodeResponse();
      await toNodeHandler(provider)(req, res);
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(uncaught).toEqual([]);
      expect(out.status).toBe(500);
      expect(JSON.parse(out.body)).toEqual({ error: 'server_error', error_description: 'The server could not complete the request' });
      expect(reads).toBe(2);
      // The getter's own failure is what is logged, not a later one from a request never built.
      expect(logged).toEqual(['adapter: a request failed: Error: socket getter failed']);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
  it('400 when the body cannot be read', async () => {
    const { provider } = makeProvider();
    const { res, out } = nodeResponse();
    await toNodeHandler(provider)(nodeRequest({ method: 'POST', url: '/oauth/token', headers: { 'content-type': FORM }, fail: true }), res);
    expect(out.status).toBe(400);
    expect(JSON.parse(out.body)).toEqual({ error: 'invalid_request', error_description: 'The request body could not be read' });
  });
});

describe('sendResponse', () => {
  it('writes status, headers and body', () => {
    const { res, out } = nodeResponse();
    sendResponse(res, { status: 201, headers: { 'X-A': '1' }, body: 'hi' });
    expect(out).toMatchObject({ status: 201, body: 'hi', ended: true });
    expect(out.headers['X-A']).toBe('1');
  });
  it('declares the body length in bytes, so the answer is not sent chunked', () => {
    const { res, out } = nodeResponse();
    sendResponse(res, { status: 200, headers: { 'Content-Type': 'text/plain' }, body: 'h\u00e9\u20ac' });
    expect(out.headers['Content-Length']).toBe('6');
    const empty = nodeResponse();
    sendResponse(empty.res, { status: 302, headers: { Location: '/x' }, body: '' });
    expect(empty.out.headers['Content-Length']).toBe('0');
  });
  it('adds a length beside other 14-letter header names, and none to an informational status', () => {
    const { res, out } = nodeResponse();
    sendResponse(res, { status: 200, headers: { 'X-Request-Id14': 'abc' }, body: 'four' });
    expect(out.headers).toEqual({ 'X-Request-Id14': 'abc', 'Content-Length': '4' });
    const early = nodeResponse();
    sendResponse(early.res, { status: 103, headers: { Link: '</a>; rel=preload' }, body: '' });
    expect(Object.keys(early.out.headers).map((h) => h.toLowerCase())).not.toContain('content-length');
  });
  it('keeps a length the response already declares, in any spelling, and adds none to 204 or 304', () => {
    for (const name of ['content-length', 'Content-Length', 'CONTENT-LENGTH']) {
      const { res, out } = nodeResponse();
      sendResponse(res, { status: 200, headers: { [name]: '2' }, body: 'hi' });
      expect(Object.keys(out.headers).filter((h) => h.toLowerCase() === 'content-length')).toEqual([name]);
    }
    for (const status of [204, 304]) {
      const { res, out } = nodeResponse();
      sendResponse(res, { status, headers: { 'Cache-Control': 'no-store' }, body: '' });
      expect(Object.keys(out.headers).map((h) => h.toLowerCase())).not.toContain('content-length');
    }
  });
  it('never changes the response it is given: one response object sent twice gets each body its own length', () => {
    const headers = Object.freeze({ 'Content-Type': 'text/plain', 'Cache-Control': 'no-store' });
    const r = { status: 200, headers, body: 'short' };
    const first = nodeResponse();
    sendResponse(first.res, r);
    r.body = 'a longer body';
    const second = nodeResponse();
    sendResponse(second.res, r);
    expect(first.out.headers).toEqual({ 'Content-Type': 'text/plain', 'Cache-Control': 'no-store', 'Content-Length': '5' });
    expect(second.out.headers['Content-Length']).toBe('13');
    expect(Object.keys(headers)).toEqual(['Content-Type', 'Cache-Control']);
  });
  it('sends only the headers a response has itself, not ones inherited from its prototype', () => {
    const inherited = Object.assign(Object.create({ 'X-Inherited': 'no' }) as Record<string, string>, { 'X-Own': 'yes' });
    const { res, out } = nodeResponse();
    sendResponse(res, { status: 200, headers: inherited, body: 'ok' });
    expect(out.headers).toEqual({ 'X-Own': 'yes', 'Content-Length': '2' });
  });
  it('a token answer over a real socket carries Content-Length and no chunked encoding', async () => {
    const { createServer } = await import('node:http');
    const { provider } = makeProvider();
    const server = createServer(toNodeHandler(provider));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const r = await fetch(`http://127.0.0.1:${port}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': FORM, authorization: basic('conf', SECRET) },
        body: 'grant_type=client_credentials&scope=read',
      });
      const text = await r.text();
      expect(r.status).toBe(200);
      expect(r.headers.get('transfer-encoding')).toBeNull();
      expect(r.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
  it('only ends a response whose headers were sent', () => {
    const { res, out } = nodeResponse();
    sendResponse(res, { status: 200, headers: {}, body: 'first' });
    sendResponse(res, { status: 500, headers: {}, body: 'second' });
    expect(out.status).toBe(200);
    expect(out.body).toBe('first');
  });
  it('answers 500 server_error when Node refuses a header value', () => {
    const { res, out } = nodeResponse({ refuseHeaders: true });
    res.setHeader('X-Left', 'over');
    sendResponse(res, { status: 200, headers: { 'X-Bad': 'a\nb' }, body: 'secret' });
    expect(out.status).toBe(500);
    expect(out.headers['X-Left']).toBeUndefined();
    expect(JSON.parse(out.body)).toEqual({ error: 'server_error', error_description: 'The server could not complete the request' });
  });
});

describe('Fetch adapter', () => {
  it('toFetchResponse has no body for 204, 304 or an empty body', async () => {
    for (const [status, body] of [
      [204, 'x'],
      [304, 'x'],
      [200, ''],
    ] as const) {
      const r = toFetchResponse({ status, headers: { 'X-A': '1' }, body });
      expect(r.status).toBe(status);
      expect(r.body).toBeNull();
      expect(r.headers.get('X-A')).toBe('1');
    }
    const ok = toFetchResponse({ status: 200, headers: {}, body: '{"a":1}' });
    expect(await ok.text()).toBe('{"a":1}');
  });
  it('fromFetchRequest reads the body of a form or JSON POST only', async () => {
    const post = await fromFetchRequest(
      new Request('https://as.example/oauth/token?q=1', { method: 'POST', headers: { 'content-type': FORM }, body: 'a=1' }),
    );
    expect(post).toEqual({ method: 'POST', url: '/oauth/token?q=1', headers: { 'content-type': FORM }, body: 'a=1' });
    const json = await fromFetchRequest(
      new Request('https://as.example/t', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' }),
    );
    expect(json.body).toBe('{"a":1}');
    const text = await fromFetchRequest(
      new Request('https://as.example/t', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'a=1' }),
    );
    expect(text.body).toBeUndefined();
    const get = await fromFetchRequest(new Request('https://as.example/t', { method: 'GET', headers: { 'content-type': FORM } }));
    expect(get.body).toBeUndefined();
    expect(get.method).toBe('GET');
  });
  it('fromFetchRequest refuses a body over the limit, declared or streamed', async () => {
    const declared = new Request('https://as.example/t', {
      method: 'POST',
      headers: { 'content-type': FORM, 'content-length': '100' },
      body: 'a=1',
    });
    await expect(fromFetchRequest(declared, { bodyLimit: 10 })).rejects.toBeInstanceOf(FetchBodyTooLargeError);
    const streamed = new Request('https://as.example/t', { method: 'POST', headers: { 'content-type': FORM }, body: 'a'.repeat(11) });
    await expect(fromFetchRequest(streamed, { bodyLimit: 10 })).rejects.toMatchObject({ code: 'BODY_TOO_LARGE' });
    const exact = new Request('https://as.example/t', { method: 'POST', headers: { 'content-type': FORM }, body: 'a'.repeat(10) });
    expect((await fromFetchRequest(exact, { bodyLimit: 10 })).body).toBe('a'.repeat(10));
  });
  it('toFetchHandler: null for other paths, 413 for a large body, the endpoint otherwise', async () => {
    const { provider } = makeProvider();
    const handler = toFetchHandler(provider, { bodyLimit: 8 });
    expect(await handler(new Request('https://as.example/elsewhere'))).toBeNull();
    const big = await handler(
      new Request('https://as.example/oauth/token', {
        method: 'POST',
        headers: { 'content-type': FORM },
        body: 'grant_type=client_credentials',
      }),
    );
    expect(big?.status).toBe(413);
    expect(big?.headers.get('Connection')).toBe('close');
    const meta = await toFetchHandler(provider)(new Request('https://as.example/.well-known/oauth-authorization-server'));
    expect(meta?.status).toBe(200);
  });
});
