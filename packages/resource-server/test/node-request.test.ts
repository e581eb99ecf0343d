/**
 * `fromNodeRequest` takes the Authorization and DPoP header lines from `rawHeaders` (so that a
 * repeated header is seen as two lines and refused), matching their names without regard to case;
 * only names of the right length are lowercased on the way.
 */
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { fromNodeRequest, type NodeRequest } from '../src/index.js';

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
