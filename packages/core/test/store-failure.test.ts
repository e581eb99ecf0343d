import { describe, expect, it } from 'vitest';
import { type Logger, StoreUnavailableError } from '../src/index.js';
import { authorizeUrl, basic, body, CB, form, get, getCode, makeProvider, pkce, SECRET } from './helpers.js';

function capture(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    warn: (m, meta) => void lines.push(m + JSON.stringify(meta)),
    error: (m, meta) => void lines.push(m + JSON.stringify(meta)),
  };
}

describe('store failures', () => {
  it('an unreachable store is 503 temporarily_unavailable with Retry-After, at every endpoint', async () => {
    const logger = capture();
    const { provider } = makeProvider({ logger });
    const { code, verifier } = await getCode(provider);
    const down = async () => {
      throw new StoreUnavailableError('redis down', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    };
    provider.grantGetter(down).grantSetter(down).tokenSetter(down).tokenGetter(down);
    const token = await provider.token(
      form({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CB }, { authorization: basic('conf', SECRET) }),
    );
    expect(token.status).toBe(503);
    expect(body(token).error).toBe('temporarily_unavailable');
    expect(token.headers['Retry-After']).toBe('1');
    const a = await provider.authorize(
      get(
        authorizeUrl({
          response_type: 'code',
          client_id: 'conf',
          redirect_uri: CB,
          code_challenge: pkce().challenge,
          code_challenge_method: 'S256',
        }),
      ),
    );
    if (a.type !== 'consent') throw new Error('expected consent');
    const decision = await provider.completeAuthorization(a.request, { approved: true, userId: 'u' });
    expect(decision.status).toBe(503);
    expect(body(decision).error).toBe('temporarily_unavailable');
    const res = await provider.verifyAccessToken(get('/api', { authorization: 'Bearer abc' }));
    expect(!res.ok && res.response.status).toBe(503);
  });

  it("a Node socket error (by code, anywhere in the cause chain) is also 503; driver error names are the bindings' business", async () => {
    const { provider } = makeProvider({ logger: capture() });
    let thrown: Error = new Error('x', { cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }) });
    provider.tokenSetter(async () => {
      throw thrown;
    });
    const cc = () => provider.token(form({ grant_type: 'client_credentials' }, { authorization: basic('conf', SECRET) }));
    expect((await cc()).status).toBe(503);
    // Core knows no driver: a driver's error that no binding wrapped is a 500, not a guess.
    thrown = Object.assign(new Error('x'), { name: 'SequelizeConnectionRefusedError' });
    expect((await cc()).status).toBe(500);
  });

  it('any other store error is 500 server_error without internal text; the log keeps the cause but no secrets', async () => {
    const logger = capture();
    const { provider } = makeProvider({ logger });
    provider.tokenSetter(async () => {
      throw new Error('duplicate key value violates unique constraint "tokens_pkey"');
    });
    const r = await provider.token(form({ grant_type: 'client_credentials' }, { authorization: basic('conf', SECRET) }));
    expect(r.status).toBe(500);
    expect(body(r)).toEqual({ error: 'server_error', error_description: 'The server could not complete the request' });
    expect(logger.lines.join('\n')).toContain('unique constraint');
    expect(logger.lines.join('\n')).not.toContain(SECRET);
  });
});
