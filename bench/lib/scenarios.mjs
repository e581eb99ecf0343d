// What the bench measures: the servers, the requests (load.lua settings) and the rows (entries)
// of each group. No measuring here (measure.mjs) and no printing (report.mjs).

export const SECRET = 's3cret-for-the-benchmark-0123456789';
export const basic = (id) => `Basic ${Buffer.from(`${id}:${SECRET}`).toString('base64')}`;
const REDIRECT = encodeURIComponent('https://app.example/cb');
// RFC 7636 appendix B verifier and challenge: every exchange uses PKCE S256.
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
export const AUTHORIZE_PATH = `/oauth/authorize?response_type=code&client_id=c1&redirect_uri=${REDIRECT}&scope=read&state=s&code_challenge=${CHALLENGE}&code_challenge_method=S256`;
export const EXCHANGE_BODY = `grant_type=authorization_code&code=CODE&redirect_uri=${REDIRECT}&code_verifier=${VERIFIER}`;
export const CC_BODY = 'grant_type=client_credentials&scope=read';

export const ALL_GROUPS = [
  'token',
  'telemetry',
  'resource',
  'introspection',
  'exchange',
  'jwt',
  'dpop',
  'paired',
  'pg',
  'mariadb',
  'sqlite',
  'mongo',
  'memory',
  'growth',
  'secret',
];
/** The groups that run Portcullis and its floor on a database. */
export const STORE_GROUPS = ['pg', 'mariadb', 'sqlite', 'mongo'];

/** Servers by key: `file` under bench/, `env` for it, `portcullis` when it loads Portcullis. */
export const SERVERS = {
  'bare-hello': { label: 'bare `node:http` hello (JSON)', file: 'servers/bare-hello.mjs' },
  'bare-token': { label: 'bare `node:http`: 32 random bytes + HMAC + Map set', file: 'servers/bare-token.mjs' },
  'express-hello': { label: 'Express 5 hello', file: 'servers/express-hello.mjs' },
  oidc: { label: 'oidc-provider 9 (memory adapter)', file: 'servers/oidc-provider.mjs', tokenPath: '/token' },
  'node-oauth2': {
    label: '@node-oauth/oauth2-server 5.3 + Express (memory model)',
    file: 'servers/node-oauth2-server.mjs',
    tokenPath: '/oauth/token',
  },
  'pc-node': {
    label: 'Portcullis, `node:http` adapter',
    portcullis: true,
    file: 'servers/portcullis.mjs',
    env: { ADAPTER: 'node' },
    tokenPath: '/oauth/token',
  },
  'pc-express': {
    label: 'Portcullis, Express 5 adapter',
    portcullis: true,
    file: 'servers/portcullis.mjs',
    env: { ADAPTER: 'express' },
    tokenPath: '/oauth/token',
  },
  'pc-fetch': {
    label: 'Portcullis, Fetch adapter (via `node:http`)',
    portcullis: true,
    file: 'servers/portcullis.mjs',
    env: { ADAPTER: 'fetch' },
    tokenPath: '/oauth/token',
  },
  floor: { label: 'floor', file: 'servers/floor.mjs', tokenPath: '/oauth/token' },
  // JWT access tokens (group `jwt`): the algorithm comes from the instance (JWT_ALG).
  'bare-jwt-sign': { label: 'bare `node:http`: jose `SignJWT` (RFC 9068 claims)', file: 'servers/bare-jwt-sign.mjs' },
  'bare-jwt-verify': { label: 'bare `node:http`: jose `jwtVerify`, local key', file: 'servers/bare-jwt-verify.mjs' },
  // DPoP (group `dpop`): the floor verifies the proof alone; Portcullis checks token and proof.
  'bare-dpop-verify': {
    label: "bare `node:http`: jose `jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt' })`",
    file: 'servers/bare-dpop-verify.mjs',
  },
  'pc-node-dpop': {
    label: 'Portcullis, `node:http` adapter, `dpop: { enabled: true }`',
    portcullis: true,
    file: 'servers/portcullis.mjs',
    env: { ADAPTER: 'node', DPOP: '1' },
    tokenPath: '/oauth/token',
  },
  'rs-node': {
    label: '`@portcullis/resource-server` `requireOAuth` on `node:http`',
    portcullis: true,
    file: 'servers/resource-server.mjs',
  },
};

/** How each store is named in the report, and what its floor server uses. */
export const STORES = {
  pg: { label: 'PostgreSQL + Redis', floor: 'floor: bare `node:http` + `pg` Pool(10), named prepared statements' },
  mariadb: { label: 'MariaDB + Redis', floor: 'floor: bare `node:http` + `mariadb` pool(10), prepared statements (`execute`)' },
  sqlite: { label: 'SQLite (WAL) + Redis', floor: 'floor: bare `node:http` + `sqlite3`, prepared statements' },
  mongo: { label: 'MongoDB (mongo-java-server) + Redis', floor: 'floor: bare `node:http` + `mongodb` driver, pool 10' },
};

/** One measured row: a server doing one scenario. */
export function entry(id, server, scenario, load, extra = {}) {
  return { id, server, scenario, load, stores: 'memory', connections: 50, runs: [], ...extra };
}
const get = (path) => ({ BENCH_MODE: 'get', BENCH_PATH: path });
const post = (path, body, auth) => ({ BENCH_MODE: 'post', BENCH_PATH: path, BENCH_BODY: body, BENCH_AUTH: auth });
const bearer = () => ({ BENCH_MODE: 'bearer', BENCH_PATH: '/resource' });
const introspect = (path) => ({ BENCH_MODE: 'introspect', BENCH_PATH: path, BENCH_AUTH: basic('c1') });
const exchange = () => ({
  BENCH_MODE: 'exchange',
  BENCH_PATH: AUTHORIZE_PATH,
  BENCH_AUTH: basic('c1'),
  BENCH_TOKEN_PATH: '/oauth/token',
  BENCH_TOKEN_BODY: EXCHANGE_BODY,
});

export const S = {
  hello: 'hello (GET)',
  minimal: 'minimal token (POST)',
  cc: 'client_credentials token',
  resource: 'bearer-protected resource',
  introspection: 'introspection',
  exchange: 'code exchange (authorize + token)',
};

export const E = {
  bareHello: entry('bare-hello', 'bare-hello', S.hello, get('/')),
  bareToken: entry('bare-token', 'bare-token', S.minimal, post('/token', CC_BODY)),
  expressHello: entry('express-hello', 'express-hello', S.hello, get('/hello')),
  oidcCc: entry('oidc-cc', 'oidc', S.cc, post('/token', CC_BODY, basic('c1'))),
  oauth2Cc: entry('oauth2-cc', 'node-oauth2', S.cc, post('/oauth/token', CC_BODY, basic('c1'))),
  pcNodeCc: entry('pc-node-cc', 'pc-node', S.cc, post('/oauth/token', CC_BODY, basic('c1'))),
  pcExpressCc: entry('pc-express-cc', 'pc-express', S.cc, post('/oauth/token', CC_BODY, basic('c1'))),
  pcFetchCc: entry('pc-fetch-cc', 'pc-fetch', S.cc, post('/oauth/token', CC_BODY, basic('c1'))),
  pcNodeCcScrypt: entry('pc-node-cc-scrypt', 'pc-node', `${S.cc}, scrypt-hashed secret`, post('/oauth/token', CC_BODY, basic('c-scrypt')), {
    timeoutS: 60,
    whole: true,
  }),
  oauth2Res: entry('oauth2-res', 'node-oauth2', S.resource, bearer(), { tokens: true }),
  pcNodeRes: entry('pc-node-res', 'pc-node', S.resource, bearer(), { tokens: true }),
  pcExpressRes: entry('pc-express-res', 'pc-express', S.resource, bearer(), { tokens: true, note: ' — `requireOAuth` middleware' }),
  pcExpressRoute: entry(
    'pc-express-route',
    'pc-express',
    S.resource,
    { ...bearer(), BENCH_PATH: '/resource-route' },
    {
      tokens: true,
      note: ' — `withOAuth` route handler',
    },
  ),
  pcFetchRes: entry('pc-fetch-res', 'pc-fetch', S.resource, bearer(), { tokens: true }),
  oidcIntro: entry('oidc-intro', 'oidc', S.introspection, introspect('/token/introspection'), { tokens: true }),
  pcNodeIntro: entry('pc-node-intro', 'pc-node', S.introspection, introspect('/oauth/introspect'), { tokens: true }),
  pcExpressIntro: entry('pc-express-intro', 'pc-express', S.introspection, introspect('/oauth/introspect'), { tokens: true }),
  pcFetchIntro: entry('pc-fetch-intro', 'pc-fetch', S.introspection, introspect('/oauth/introspect'), { tokens: true }),
  pcNodeEx: entry('pc-node-ex', 'pc-node', S.exchange, exchange(), { metric: 'exchanges' }),
  pcExpressEx: entry('pc-express-ex', 'pc-express', S.exchange, exchange(), { metric: 'exchanges' }),
  pcFetchEx: entry('pc-fetch-ex', 'pc-fetch', S.exchange, exchange(), { metric: 'exchanges' }),
};

/**
 * The rows of a store group: each scenario by its floor and by Portcullis (`node:http` adapter),
 * both on the same database server and Redis (instances `floor` and `portcullis`).
 */
function storeEntries(store) {
  const stores = STORES[store].label;
  const floor = { instance: 'floor', stores, store, floorRow: true };
  const pc = { instance: 'portcullis', stores, store };
  return {
    floorCc: entry(`${store}-floor-cc`, 'floor', S.cc, post('/oauth/token', CC_BODY, basic('c1')), floor),
    cc: entry(`${store}-cc`, 'pc-node', S.cc, post('/oauth/token', CC_BODY, basic('c1')), pc),
    floorRes: entry(`${store}-floor-res`, 'floor', S.resource, bearer(), { ...floor, tokens: true }),
    res: entry(`${store}-res`, 'pc-node', S.resource, bearer(), { ...pc, tokens: true }),
    floorEx: entry(`${store}-floor-ex`, 'floor', S.exchange, exchange(), { ...floor, metric: 'exchanges' }),
    ex: entry(`${store}-ex`, 'pc-node', S.exchange, exchange(), { ...pc, metric: 'exchanges' }),
  };
}
/** Per store: the floor and Portcullis rows; `floorOf` pairs each Portcullis row with its floor. */
export const ST = Object.fromEntries(STORE_GROUPS.map((s) => [s, storeEntries(s)]));
export const floorOf = (rows) => [
  [rows.cc, rows.floorCc],
  [rows.res, rows.floorRes],
  [rows.ex, rows.floorEx],
];

/** PostgreSQL cost growth: the resource check against 1,000 tokens and against many. */
const PG_LABEL = STORES.pg.label;
export const PG = {
  resSmall: entry('pg-res-small', 'pc-node', S.resource, bearer(), { tokens: true, instance: 'small', stores: PG_LABEL }),
  resLarge: entry('pg-res-large', 'pc-node', S.resource, bearer(), { tokens: true, instance: 'large', stores: PG_LABEL }),
  resSmall1: entry('pg-res-small-c1', 'pc-node', `${S.resource}, 1 connection`, bearer(), {
    tokens: true,
    instance: 'small',
    connections: 1,
    stores: PG_LABEL,
  }),
  resLarge1: entry('pg-res-large-c1', 'pc-node', `${S.resource}, 1 connection`, bearer(), {
    tokens: true,
    instance: 'large',
    connections: 1,
    stores: PG_LABEL,
  }),
};

/** The algorithms of the JWT rows, by instance name (the server's JWT_ALG). */
export const JWT_ALGS = { es256: 'ES256', eddsa: 'EdDSA' };
/** The resource oidc-provider issues JWTs for (servers/oidc-provider.mjs). */
const OIDC_JWT_BODY = `${CC_BODY}&resource=${encodeURIComponent('https://api.example/')}`;
/** Tokens each first-seen verification row cycles through: more than the verifier's cache holds (1,000). */
export const JWT_POOL = 5000;
/** Tokens the cached verification row cycles through. */
export const JWT_CACHED = 100;

function jwtEntries(inst) {
  const alg = JWT_ALGS[inst];
  const a = { stores: 'memory', instance: inst, note: ` — ${alg === 'EdDSA' ? 'EdDSA (Ed25519)' : alg}` };
  const jwtCc = `${S.cc}, JWT`;
  return {
    floorSign: entry(`jwt-${inst}-floor-sign`, 'bare-jwt-sign', 'minimal JWT token (POST)', post('/token', CC_BODY), a),
    pcCc: entry(`jwt-${inst}-pc-cc`, 'pc-node', jwtCc, post('/oauth/token', CC_BODY, basic('c1')), a),
    oidcCc: entry(`jwt-${inst}-oidc-cc`, 'oidc', `${jwtCc} (resource indicator)`, post('/token', OIDC_JWT_BODY, basic('c1')), a),
    floorVerify: entry(`jwt-${inst}-floor-verify`, 'bare-jwt-verify', 'JWT check, a new token each request', bearer(), {
      ...a,
      jwtPool: JWT_POOL,
    }),
    rsFirst: entry(`jwt-${inst}-rs-first`, 'rs-node', 'JWT check, a new token each request', bearer(), {
      ...a,
      jwtPool: JWT_POOL,
      note: `${a.note}, cache at its default (1,000), ${JWT_POOL.toLocaleString('en')} tokens in turn: never a hit`,
    }),
    rsCached: entry(`jwt-${inst}-rs-cached`, 'rs-node', `JWT check, ${JWT_CACHED} tokens in turn`, bearer(), {
      ...a,
      instance: `${inst}-cached`,
      jwtPool: JWT_CACHED,
      note: `${a.note}, verified-token cache`,
    }),
  };
}
/** JWT access token rows by algorithm, and the bare hello floor measured beside them. */
export const J = {
  ...Object.fromEntries(Object.keys(JWT_ALGS).map((inst) => [inst, jwtEntries(inst)])),
  hello: entry('jwt-hello', 'bare-hello', S.hello, get('/')),
};
export const jwtSignRows = () => Object.keys(JWT_ALGS).flatMap((i) => [J[i].floorSign, J[i].pcCc, J[i].oidcCc]);
export const jwtVerifyRows = () => [J.hello, ...Object.keys(JWT_ALGS).flatMap((i) => [J[i].floorVerify, J[i].rsFirst, J[i].rsCached])];

/**
 * OpenTelemetry (group `telemetry`): the client_credentials token row with the default
 * `telemetry` (on, no SDK registered), with `telemetry: false`, and with an SDK registered.
 */
export const T = {
  on: entry('otel-on-cc', 'pc-node', S.cc, post('/oauth/token', CC_BODY, basic('c1')), {
    instance: 'otel-on',
    note: ' — `telemetry` default (on), no SDK registered',
  }),
  off: entry('otel-off-cc', 'pc-node', S.cc, post('/oauth/token', CC_BODY, basic('c1')), {
    instance: 'otel-off',
    note: ' — `telemetry: false`',
  }),
  sdk: entry('otel-sdk-cc', 'pc-node', S.cc, post('/oauth/token', CC_BODY, basic('c1')), {
    instance: 'otel-sdk',
    note: ' — `telemetry` on, OpenTelemetry SDK 3.1 registered (spans batched to a sink, metrics)',
  }),
};
export const TELEMETRY_INSTANCES = { 'otel-on': {}, 'otel-off': { TELEMETRY: 'off' }, 'otel-sdk': { OTEL_SDK: '1' } };
export const telemetryRows = () => [T.on, T.off, T.sdk];

/** The DPoP rows' algorithms, by instance name. */
export const DPOP_ALGS = { 'dpop-es256': 'ES256', 'dpop-eddsa': 'EdDSA' };
/** The URL the DPoP proofs name (htu): the provider's issuer origin plus the route's path. */
export const DPOP_HTU = 'http://127.0.0.1/resource';
const dpopLoad = () => ({ BENCH_MODE: 'dpop', BENCH_PATH: '/resource' });
function dpopEntries(inst) {
  const alg = DPOP_ALGS[inst];
  const a = { instance: inst, alg, dpop: true, note: ` — ${alg === 'EdDSA' ? 'EdDSA (Ed25519)' : alg} proofs` };
  return {
    floor: entry(`${inst}-floor`, 'bare-dpop-verify', 'DPoP proof check, a new proof each request', dpopLoad(), a),
    pc: entry(`${inst}-pc`, 'pc-node-dpop', 'DPoP-bound resource (`requireOAuth`), a new proof each request', dpopLoad(), a),
  };
}
export const D = Object.fromEntries(Object.keys(DPOP_ALGS).map((inst) => [inst, dpopEntries(inst)]));
export const dpopRows = () => Object.keys(DPOP_ALGS).flatMap((i) => [D[i].floor, D[i].pc]);

/** Every row in report order. */
export function allEntries() {
  return [
    E.bareHello,
    E.bareToken,
    E.expressHello,
    E.oidcCc,
    E.oauth2Cc,
    E.pcNodeCc,
    ...telemetryRows(),
    E.pcExpressCc,
    E.pcFetchCc,
    E.pcNodeCcScrypt,
    E.oauth2Res,
    E.pcNodeRes,
    E.pcExpressRes,
    E.pcExpressRoute,
    E.pcFetchRes,
    E.oidcIntro,
    E.pcNodeIntro,
    E.pcExpressIntro,
    E.pcFetchIntro,
    E.pcNodeEx,
    E.pcExpressEx,
    E.pcFetchEx,
    ...jwtSignRows(),
    ...jwtVerifyRows(),
    ...dpopRows(),
    ...STORE_GROUPS.flatMap((s) => Object.values(ST[s])),
    PG.resSmall,
    PG.resLarge,
    PG.resSmall1,
    PG.resLarge1,
  ];
}
