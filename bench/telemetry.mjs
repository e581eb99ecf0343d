/**
 * OpenTelemetry overhead in process (group `telemetry`, pinned to the server core by the bench):
 * client_credentials token requests through `provider.token()` (no HTTP) on two providers on memory
 * stores, one with the default `telemetry` (on) and one with `telemetry: false`, in alternating
 * blocks of BLOCK requests (the order swapped every pair), the CPU time of each block from
 * `process.cpuUsage()`. Each pair of blocks gives a ratio; the median of the ratios is the figure:
 * much steadier than HTTP rows on a shared machine. First with no SDK registered, then (new
 * providers) with the SDK of servers/otel-sdk.mjs registered. Each phase is bounded by PHASE_S
 * seconds and MAX_PAIRS pairs. Prints one line: TELEMETRY_RESULT {json}.
 */
import { createMemoryStores, hashSecret, OAuth2Provider } from '@portcullis/core';

const SECRET = 's3cret-for-the-benchmark-0123456789';
const PHASE_S = Number(process.env.PHASE_S ?? 10);
const BLOCK = 500;
const MAX_PAIRS = 400;
const client = { id: 'c1', secretHash: hashSecret(SECRET), redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read'] };
const request = {
  method: 'POST',
  url: '/oauth/token',
  headers: {
    'content-type': 'application/x-www-form-urlencoded',
    authorization: `Basic ${Buffer.from(`c1:${SECRET}`).toString('base64')}`,
  },
  body: 'grant_type=client_credentials&scope=read',
};

const make = (telemetry) =>
  new OAuth2Provider({
    issuer: 'http://127.0.0.1',
    stores: createMemoryStores({ clients: [client] }),
    ...(telemetry ? {} : { telemetry: false }),
  });

async function block(provider) {
  const t0 = process.cpuUsage();
  for (let i = 0; i < BLOCK; i++) {
    const r = await provider.token(request);
    if (r.status !== 200) throw new Error(`token request answered ${r.status}: ${r.body}`);
  }
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / BLOCK;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function phase() {
  const on = make(true);
  const off = make(false);
  // Warm-up: both paths compiled before anything is counted.
  for (let i = 0; i < 4; i++) await Promise.all([block(on), block(off)]);
  const onUs = [];
  const offUs = [];
  const deadline = Date.now() + PHASE_S * 1000;
  while (Date.now() < deadline && onUs.length < MAX_PAIRS) {
    if (onUs.length % 2 === 0) {
      onUs.push(await block(on));
      offUs.push(await block(off));
    } else {
      offUs.push(await block(off));
      onUs.push(await block(on));
    }
  }
  const ratios = onUs.map((v, i) => v / offUs[i]);
  return { pairs: ratios.length, onUs: median(onUs), offUs: median(offUs), ratio: median(ratios) };
}

const noSdk = await phase();
await import('./servers/otel-sdk.mjs');
const sdk = await phase();
console.log(`TELEMETRY_RESULT ${JSON.stringify({ block: BLOCK, noSdk, sdk })}`);
