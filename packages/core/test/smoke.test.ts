import { expect, it } from 'vitest';
import { body, exchange, getCode, makeProvider } from './helpers.js';

it('runs the code flow', async () => {
  const { provider } = makeProvider();
  const { code, verifier } = await getCode(provider);
  const r = await exchange(provider, code, verifier);
  expect(r.status, r.body).toBe(200);
  expect(body(r).token_type).toBe('Bearer');
});
