/**
 * `fromNodeRequest` takes the Authorization and DPoP header lines from `rawHeaders` (so that a
 * repeated header is seen as two lines and refused), matching their names without regard to case;
 * only names of the right length are lowercased on the way.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, fromNodeRequest, type NodeRequest, requireOAuth } from '../src/index.js';
import { startOwnIssuer } from './servers.js';

function req(rawHeaders: string[], headers: Record<string, string> = {}): NodeRequest {
  return { rawHeaders, headers, method: 'GET', url: '/r?x=1' } as unknown as IncomingMessage as NodeRequest;
}

describe('fromNodeRequest', () => {
  it('finds Authorization and DPoP lines in any case, each line once', () => {
    const r = fromNodeRequest(req(['Host', 'api', 'AUTHORIZATION', 'Bearer a', 'dPoP', 'proof', 'Accept', '*/*']));
    expect(r.authorization).toEqual(['Bearer a']);
    expect(r.dpop).toEqual(['proof']);
    expect(r.query).toBe('x=1');
    const two = fromNodeRequest(req(['authorization', 'Bearer a', 'Authorization', 'Bearer b', 'DPoP', 'p1', 'dpop', 'p2']));
    expect(two.authorization).toEqual(['Bearer a', 'Bearer b']);
    expect(two.dpop).toEqual(['p1', 'p2']);
  });

  it('ignores look-alike names of the same length and names that only contain the word', () => {
    const r = fromNodeRequest(
      req([
        'Authorizatiom',
        'Bearer x',
        'x-dpop',
        'p',
        'dpo\u0070x',
        'p',
        'Proxy-Authorization',
        'Basic y',
        'DPo\u017f',
        'z',
        'authorization ',
        'Bearer w',
      ]),
    );
    expect(r.authorization).toEqual([]);
    expect(r.dpop).toEqual([]);
  });
});

/** A response that records what the guard writes. */
function recorder() {
  const out = { status: 0, headers: {} as Record<string, string>, body: '' };
  const res = {
    headersSent: false,
    writableEnded: false,
    writeHead(status: number, headers: Record<string, string>) {
      out.status = status;
      out.headers = headers;
      this.headersSent = true;
    },
    end(body?: string) {
      out.body = body ?? '';
      this.writableEnded = true;
    },
    getHeaderNames: () => [],
    removeHeader() {},
    destroy() {},
  };
  return { res: res as unknown as ServerResponse, out };
}

describe('requireOAuth on hostile header lines (as a framework or proxy may hand them over)', () => {
  let own: Awaited<ReturnType<typeof startOwnIssuer>>;
  beforeAll(async () => {
    own = await startOwnIssuer();
  });
  afterAll(async () => {
    await own.close();
  });

  it('answers RFC 6750 JSON with a clean challenge, never a 5xx, and never passes the request on', async () => {
    const verifier = createVerifier({ issuer: own.issuer, audience: 'https://api.example', jwksUri: own.jwksUri });
    const guard = requireOAuth(verifier, 'read');
    const good = await own.sign({ scope: 'read' });
    const [h, p, sig] = good.split('.');
    const cases: [string, string[]][] = [
      ['CR/LF in the value', ['Authorization', `Bearer ${good}\r\nX-Injected: 1`]],
      ['NUL in the value', ['Authorization', `Bearer ${h}.${p}\u0000.${sig}`]],
      ['NUL in the name', ['Authori\u0000ation', `Bearer ${good}`]],
      ['CR/LF in the name', ['Authorization\r\n', `Bearer ${good}`]],
      ['two Authorization lines', ['Authorization', `Bearer ${good}`, 'authorization', `Bearer ${good}`]],
      ['an oversized token', ['Authorization', `Bearer ${'a'.repeat(20_000)}`]],
      ['four dot-separated parts', ['Authorization', `Bearer ${good}.${sig}`]],
      ['another scheme', ['Authorization', `Basic ${Buffer.from('a:b').toString('base64')}`]],
    ];
    for (const [what, rawHeaders] of cases) {
      const { res, out } = recorder();
      let passed = false;
      await guard({ rawHeaders, headers: {}, method: 'GET', url: '/r' } as unknown as NodeRequest, res, () => {
        passed = true;
      });
      expect(passed, what).toBe(false);
      expect([400, 401], what).toContain(out.status);
      const body = JSON.parse(out.body) as { error: string; error_description?: string };
      expect(['invalid_request', 'invalid_token'], what).toContain(body.error);
      // RFC 6749 section 5.2 / RFC 6750 section 3: error_description is %x20-21 / %x23-5B / %x5D-7E.
      if (body.error_description !== undefined) expect(body.error_description, what).toMatch(/^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/);
      expect(out.headers['WWW-Authenticate'], what).toMatch(/^[\x20-\x7e]+$/);
    }
    // The untouched token still passes: the cases above were refused for what was wrong with them.
    let passed = false;
    await guard(
      { rawHeaders: ['Authorization', `Bearer ${good}`], headers: {}, method: 'GET', url: '/r' } as unknown as NodeRequest,
      recorder().res,
      () => {
        passed = true;
      },
    );
    expect(passed).toBe(true);
  });
});
