/**
 * Memory of a Portcullis process on the memory stores (run by run.mjs, pinned to the server
 * core, with --expose-gc): RSS and heap after issuing TOKENS client_credentials tokens through
 * `provider.token()`, then after a flood of FLOOD unredeemed codes through
 * `completeAuthorization()` on the bounded memory grant cache (`@portcullis/grant-cache-memory`,
 * default threshold), and, for comparison, the same flood on the grant map of
 * `createMemoryStores` in a fresh provider. Requests are made in-process (no HTTP), so only what
 * the provider and its stores keep is measured. Prints one line: MEMORY_RESULT {json}.
 */
import { createMemoryStores, hashSecret, OAuth2Provider } from '@portcullis/core';
import { createMemoryGrantCache } from '@portcullis/grant-cache-memory';

const TOKENS = Number(process.env.TOKENS ?? 1_000_000);
const FLOOD = Number(process.env.FLOOD ?? 1_000_000);
const BUDGET_MS = Number(process.env.BUDGET_MS ?? 240_000);
const started = Date.now();
const gc = globalThis.gc;
if (!gc) throw new Error('run with --expose-gc');

function sample() {
  gc();
  gc();
  const m = process.memoryUsage();
  return { rssMiB: m.rss / 2 ** 20, heapUsedMiB: m.heapUsed / 2 ** 20 };
}

function newProvider() {
  const provider = new OAuth2Provider({ issuer: 'http://127.0.0.1' });
  provider.useStores(
    createMemoryStores({
      clients: [
        {
          id: 'c1',
          secretHash: hashSecret('s3cret-for-the-benchmark-0123456789'),
          redirectUris: ['https://app.example/cb'],
          grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
          scopes: ['read', 'write'],
        },
      ],
    }),
  );
  return provider;
}

const tokenRequest = {
  method: 'POST',
  url: '/oauth/token',
  headers: {
    'content-type': 'application/x-www-form-urlencoded',
    authorization: `Basic ${Buffer.from('c1:s3cret-for-the-benchmark-0123456789').toString('base64')}`,
  },
  body: 'grant_type=client_credentials&scope=read',
};
const query =
  'response_type=code&client_id=c1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=read&state=s' +
  '&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256';

async function flood(provider, n) {
  let done = 0;
  for (; done < n && Date.now() - started < BUDGET_MS; done++) {
    const r = await provider.completeAuthorization(query, { approved: true, userId: 'u1' });
    if (r.status !== 302 || !r.headers.Location?.includes('code=')) throw new Error(`authorization failed: ${r.status}`);
  }
  return done;
}

const provider = newProvider();
const empty = sample();
let issued = 0;
for (; issued < TOKENS && Date.now() - started < BUDGET_MS; issued++) {
  const r = await provider.token(tokenRequest);
  if (r.status !== 200) throw new Error(`token request failed: ${r.status} ${r.body}`);
}
const afterTokens = sample();

const cache = createMemoryGrantCache();
provider.useStores({ grants: cache });
const flooded = await flood(provider, FLOOD);
const afterFlood = sample();

const other = newProvider();
const before = sample();
const floodedCore = await flood(other, FLOOD);
const afterCoreFlood = sample();

console.log(
  `MEMORY_RESULT ${JSON.stringify({
    tokens: issued,
    codes: flooded,
    codesCore: floodedCore,
    empty,
    afterTokens,
    afterFlood,
    cacheEntries: cache.size,
    coreBefore: before,
    afterCoreFlood,
    seconds: (Date.now() - started) / 1000,
  })}`,
);
