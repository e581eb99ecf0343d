/**
 * The floor of a store: a bare `node:http` server and the database driver doing the statements
 * Portcullis needs for a request, and little else (no framework, no validation beyond what the
 * answer needs). `STORE` picks the driver: `pg` (`pg` Pool of 10), `mariadb` (`mariadb` pool of
 * 10, prepared statements), `sqlite` (`sqlite3`, one database, prepared statements) or `mongo`
 * (`mongodb` driver, pool of 10). `DATABASE_URL` names the database (for SQLite, a file path).
 * Codes of the exchange go to Redis (`REDIS_URL`) with the same commands Portcullis sends.
 *
 * - `POST /oauth/token` with Basic auth: client_credentials (client lookup, 32 random bytes,
 *   SHA-256, one insert, answer) or authorization_code (client lookup, one EVAL that takes the
 *   code, the PKCE S256 check, two tokens in one insert, answer).
 * - `GET /oauth/authorize?...`: client lookup, a code kept in Redis with one SET, 302.
 * - `GET /resource` with a bearer token: SHA-256, one token lookup, the expiry, revocation and
 *   scope checks, answer.
 *
 * The tables are its own, made at start with the columns, keys and indexes the Portcullis
 * models have (so an insert maintains the same indexes).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const SECRET = 's3cret-for-the-benchmark-0123456789';
const REDIRECT_URI = 'https://app.example/cb';
const TTL_S = 3600;
const CODE_TTL_MS = 60_000;
const store = process.env.STORE ?? 'pg';
const url = process.env.DATABASE_URL;

const sha256hex = (s) => createHash('sha256').update(s, 'utf8').digest('hex');
const salt = randomBytes(16).toString('base64url');
const CLIENT = {
  id: 'c1',
  secretHash: `sha256$${salt}$${createHash('sha256')
    .update(salt + SECRET)
    .digest('base64url')}`,
  redirectUris: JSON.stringify([REDIRECT_URI]),
  grantTypes: JSON.stringify(['authorization_code', 'refresh_token', 'client_credentials']),
  scopes: JSON.stringify(['read', 'write']),
};

/** Salted SHA-256 compared in constant time (what `verifySecret` does for a `hashSecret` hash). */
function secretMatches(presented, hash) {
  const [, s, digest] = hash.split('$');
  const a = createHash('sha256')
    .update(s + presented)
    .digest();
  const b = Buffer.from(digest, 'base64url');
  return a.length === b.length && timingSafeEqual(a, b);
}

// ------------------------------------------------------------------------------ drivers

/** { getClient(id), insertTokens(rows), getToken(hash) } over the chosen driver. */
async function openDatabase() {
  if (store === 'pg') {
    const { default: pg } = await import('pg');
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    // biome-ignore format: DDL
    await pool.query(`CREATE TABLE IF NOT EXISTS oauth_clients (id VARCHAR(255) PRIMARY KEY, "secretHash" VARCHAR(255),
      "redirectUris" TEXT NOT NULL, "grantTypes" TEXT NOT NULL, scopes TEXT NOT NULL, "defaultScopes" TEXT, "tokenEndpointAuthMethod" VARCHAR(32))`);
    // biome-ignore format: DDL
    await pool.query(`CREATE TABLE IF NOT EXISTS oauth_tokens ("tokenHash" CHAR(64), kind VARCHAR(7), "clientId" VARCHAR(255) NOT NULL,
      "userId" VARCHAR(255), scopes TEXT NOT NULL, "expiresAt" TIMESTAMPTZ NOT NULL, "grantId" VARCHAR(255) NOT NULL,
      "consumedAt" TIMESTAMPTZ, "revokedAt" TIMESTAMPTZ, PRIMARY KEY ("tokenHash", kind))`);
    await pool.query('CREATE INDEX IF NOT EXISTS floor_tokens_grant_id ON oauth_tokens ("grantId")');
    await pool.query('CREATE INDEX IF NOT EXISTS floor_tokens_expires_at ON oauth_tokens ("expiresAt")');
    await pool.query(
      `INSERT INTO oauth_clients (id, "secretHash", "redirectUris", "grantTypes", scopes) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (id) DO UPDATE SET "secretHash" = EXCLUDED."secretHash"`,
      [CLIENT.id, CLIENT.secretHash, CLIENT.redirectUris, CLIENT.grantTypes, CLIENT.scopes],
    );
    const cols = '"tokenHash", kind, "clientId", "userId", scopes, "expiresAt", "grantId", "consumedAt", "revokedAt"';
    const getClient = {
      name: 'floor_client',
      text: 'SELECT id, "secretHash", "redirectUris", "grantTypes", scopes, "defaultScopes", "tokenEndpointAuthMethod" FROM oauth_clients WHERE id = $1',
    };
    const insert1 = { name: 'floor_insert1', text: `INSERT INTO oauth_tokens (${cols}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL)` };
    const insert2 = {
      name: 'floor_insert2',
      text: `INSERT INTO oauth_tokens (${cols}) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL), ($8, $9, $10, $11, $12, $13, $14, NULL, NULL)`,
    };
    const getToken = {
      name: 'floor_token',
      text: `SELECT "clientId", "userId", scopes, "expiresAt", "grantId", "consumedAt", "revokedAt" FROM oauth_tokens WHERE "tokenHash" = $1 AND kind = 'access'`,
    };
    return {
      getClient: async (id) => (await pool.query({ ...getClient, values: [id] })).rows[0] ?? null,
      insertTokens: async (rows) => {
        await pool.query({ ...(rows.length === 1 ? insert1 : insert2), values: rows.flat() });
      },
      getToken: async (hash) => (await pool.query({ ...getToken, values: [hash] })).rows[0] ?? null,
    };
  }
  if (store === 'mariadb') {
    const mariadb = await import('mariadb');
    const u = new URL(url);
    const database = u.pathname.slice(1);
    const admin = await mariadb.createConnection({ host: u.hostname, port: Number(u.port), user: u.username || 'root' });
    await admin.query(`CREATE DATABASE IF NOT EXISTS \`${database}\` CHARACTER SET utf8mb4`);
    await admin.end();
    const pool = mariadb.createPool({ host: u.hostname, port: Number(u.port), user: u.username || 'root', database, connectionLimit: 10 });
    const opts = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin';
    // biome-ignore format: DDL
    await pool.query(`CREATE TABLE IF NOT EXISTS oauth_clients (id VARCHAR(255) PRIMARY KEY, secretHash VARCHAR(255),
      redirectUris TEXT NOT NULL, grantTypes TEXT NOT NULL, scopes TEXT NOT NULL, defaultScopes TEXT, tokenEndpointAuthMethod VARCHAR(32)) ${opts}`);
    // biome-ignore format: DDL
    await pool.query(`CREATE TABLE IF NOT EXISTS oauth_tokens (tokenHash CHAR(64) NOT NULL, kind VARCHAR(7) NOT NULL, clientId VARCHAR(255) NOT NULL,
      userId VARCHAR(255), scopes TEXT NOT NULL, expiresAt DATETIME(3) NOT NULL, grantId VARCHAR(255) NOT NULL,
      consumedAt DATETIME(3), revokedAt DATETIME(3), PRIMARY KEY (tokenHash, kind),
      INDEX floor_tokens_grant_id (grantId), INDEX floor_tokens_expires_at (expiresAt)) ${opts}`);
    await pool.query('REPLACE INTO oauth_clients (id, secretHash, redirectUris, grantTypes, scopes) VALUES (?, ?, ?, ?, ?)', [
      CLIENT.id,
      CLIENT.secretHash,
      CLIENT.redirectUris,
      CLIENT.grantTypes,
      CLIENT.scopes,
    ]);
    const cols = 'tokenHash, kind, clientId, userId, scopes, expiresAt, grantId, consumedAt, revokedAt';
    const row = '(?, ?, ?, ?, ?, ?, ?, NULL, NULL)';
    return {
      getClient: async (id) =>
        (
          await pool.execute(
            'SELECT id, secretHash, redirectUris, grantTypes, scopes, defaultScopes, tokenEndpointAuthMethod FROM oauth_clients WHERE id = ?',
            [id],
          )
        )[0] ?? null,
      insertTokens: async (rows) => {
        await pool.execute(`INSERT INTO oauth_tokens (${cols}) VALUES ${rows.length === 1 ? row : `${row}, ${row}`}`, rows.flat());
      },
      getToken: async (hash) =>
        (
          await pool.execute(
            "SELECT clientId, userId, scopes, expiresAt, grantId, consumedAt, revokedAt FROM oauth_tokens WHERE tokenHash = ? AND kind = 'access'",
            [hash],
          )
        )[0] ?? null,
    };
  }
  if (store === 'sqlite') {
    const { default: sqlite3 } = await import('sqlite3');
    const db = new sqlite3.Database(url);
    const run = (sql, params = []) => new Promise((resolve, reject) => db.run(sql, params, (err) => (err ? reject(err) : resolve())));
    await run('PRAGMA journal_mode = WAL');
    // biome-ignore format: DDL
    await run(`CREATE TABLE IF NOT EXISTS oauth_clients (id VARCHAR(255) PRIMARY KEY, secretHash VARCHAR(255),
      redirectUris TEXT NOT NULL, grantTypes TEXT NOT NULL, scopes TEXT NOT NULL, defaultScopes TEXT, tokenEndpointAuthMethod VARCHAR(32))`);
    // biome-ignore format: DDL
    await run(`CREATE TABLE IF NOT EXISTS oauth_tokens (tokenHash CHAR(64) NOT NULL, kind VARCHAR(7) NOT NULL, clientId VARCHAR(255) NOT NULL,
      userId VARCHAR(255), scopes TEXT NOT NULL, expiresAt DATETIME NOT NULL, grantId VARCHAR(255) NOT NULL,
      consumedAt DATETIME, revokedAt DATETIME, PRIMARY KEY (tokenHash, kind))`);
    await run('CREATE INDEX IF NOT EXISTS floor_tokens_grant_id ON oauth_tokens (grantId)');
    await run('CREATE INDEX IF NOT EXISTS floor_tokens_expires_at ON oauth_tokens (expiresAt)');
    await run('INSERT OR REPLACE INTO oauth_clients (id, secretHash, redirectUris, grantTypes, scopes) VALUES (?, ?, ?, ?, ?)', [
      CLIENT.id,
      CLIENT.secretHash,
      CLIENT.redirectUris,
      CLIENT.grantTypes,
      CLIENT.scopes,
    ]);
    const cols = 'tokenHash, kind, clientId, userId, scopes, expiresAt, grantId, consumedAt, revokedAt';
    const row = '(?, ?, ?, ?, ?, ?, ?, NULL, NULL)';
    const clientStmt = db.prepare(
      'SELECT id, secretHash, redirectUris, grantTypes, scopes, defaultScopes, tokenEndpointAuthMethod FROM oauth_clients WHERE id = ?',
    );
    const insert1 = db.prepare(`INSERT INTO oauth_tokens (${cols}) VALUES ${row}`);
    const insert2 = db.prepare(`INSERT INTO oauth_tokens (${cols}) VALUES ${row}, ${row}`);
    const tokenStmt = db.prepare(
      "SELECT clientId, userId, scopes, expiresAt, grantId, consumedAt, revokedAt FROM oauth_tokens WHERE tokenHash = ? AND kind = 'access'",
    );
    const get = (stmt, params) => new Promise((resolve, reject) => stmt.get(params, (err, r) => (err ? reject(err) : resolve(r ?? null))));
    // Dates as SQLite text, the way Sequelize writes them.
    const sqliteDate = (d) => d.toISOString().replace('T', ' ').replace('Z', ' +00:00');
    return {
      getClient: (id) => get(clientStmt, [id]),
      insertTokens: (rows) =>
        new Promise((resolve, reject) =>
          (rows.length === 1 ? insert1 : insert2).run(
            rows.flatMap((r) => [r[0], r[1], r[2], r[3], r[4], sqliteDate(r[5]), r[6]]),
            (err) => (err ? reject(err) : resolve()),
          ),
        ),
      getToken: (hash) => get(tokenStmt, [hash]),
    };
  }
  if (store === 'mongo') {
    const { MongoClient } = await import('mongodb');
    const client = new MongoClient(url, { maxPoolSize: 10 });
    await client.connect();
    const db = client.db(process.env.MONGO_DB ?? 'bench_floor');
    const clients = db.collection('oauth_clients');
    const tokens = db.collection('oauth_tokens');
    await clients.createIndex({ clientId: 1 }, { unique: true });
    await tokens.createIndex({ key: 1, kind: 1 }, { unique: true });
    await tokens.createIndex({ grantId: 1 });
    await tokens.createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0 });
    await clients.replaceOne(
      { clientId: CLIENT.id },
      {
        clientId: CLIENT.id,
        secretHash: CLIENT.secretHash,
        redirectUris: JSON.parse(CLIENT.redirectUris),
        grantTypes: JSON.parse(CLIENT.grantTypes),
        scopes: JSON.parse(CLIENT.scopes),
      },
      { upsert: true },
    );
    const toDoc = (r) => ({
      key: r[0],
      kind: r[1],
      clientId: r[2],
      userId: r[3],
      scopes: JSON.parse(r[4]),
      expiresAt: r[5],
      grantId: r[6],
      consumedAt: null,
      revokedAt: null,
    });
    return {
      getClient: async (id) => {
        const d = await clients.findOne({ clientId: { $eq: id } }, { projection: { _id: 0 } });
        return d && { ...d, redirectUris: JSON.stringify(d.redirectUris), scopes: JSON.stringify(d.scopes) };
      },
      insertTokens: async (rows) => {
        await tokens.insertMany(rows.map(toDoc), { ordered: true });
      },
      getToken: async (hash) => {
        const d = await tokens.findOne(
          { key: { $eq: hash }, kind: { $eq: 'access' }, consumedAt: null, revokedAt: null, expiresAt: { $gt: new Date() } },
          { projection: { _id: 0, key: 0, kind: 0 } },
        );
        return d && { ...d, scopes: JSON.stringify(d.scopes) };
      },
    };
  }
  throw new Error(`STORE must be pg, mariadb, sqlite or mongo, not ${store}`);
}

const db = await openDatabase();

let redis;
if (process.env.REDIS_URL) {
  const { createClient } = await import('redis');
  redis = createClient({ url: process.env.REDIS_URL });
  redis.on('error', (err) => console.error('redis:', err.message));
  await redis.connect();
}
// Takes a code once: GET and DEL in one script (one EVAL, as the Redis grant cache sends).
const TAKE = "local v = redis.call('GET', KEYS[1]) if v then redis.call('DEL', KEYS[1]) end return v";

// ------------------------------------------------------------------------------ HTTP

function send(res, status, body, headers = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}
const fail = (res, status, error) => send(res, status, { error });

/** The client named by a Basic header whose secret matches, or null. */
async function authenticate(header) {
  if (!header?.startsWith('Basic ')) return null;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) return null;
  const client = await db.getClient(decodeURIComponent(decoded.slice(0, colon)));
  if (!client?.secretHash || !secretMatches(decodeURIComponent(decoded.slice(colon + 1)), client.secretHash)) return null;
  return client;
}

/** A token row: [hash, kind, clientId, userId, scopes (JSON text), expiresAt, grantId]. */
function tokenRow(token, kind, clientId, userId, scopes, grantId) {
  return [sha256hex(token), kind, clientId, userId, JSON.stringify(scopes), new Date(Date.now() + TTL_S * 1000), grantId];
}

async function token(req, res, body) {
  const client = await authenticate(req.headers.authorization);
  if (!client) return fail(res, 401, 'invalid_client');
  const form = new URLSearchParams(body);
  const grantType = form.get('grant_type');
  const grantId = randomBytes(16).toString('base64url');
  if (grantType === 'client_credentials') {
    const access = randomBytes(32).toString('base64url');
    const scope = form.get('scope') ?? 'read';
    await db.insertTokens([tokenRow(access, 'access', client.id, null, scope.split(' '), grantId)]);
    return send(res, 200, { access_token: access, token_type: 'Bearer', expires_in: TTL_S, scope });
  }
  if (grantType === 'authorization_code') {
    const raw = await redis.eval(TAKE, { keys: [`code:${sha256hex(form.get('code') ?? '')}`], arguments: [] });
    if (typeof raw !== 'string') return fail(res, 400, 'invalid_grant');
    const grant = JSON.parse(raw);
    const verifier = form.get('code_verifier') ?? '';
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    if (grant.clientId !== client.id || grant.redirectUri !== form.get('redirect_uri') || challenge !== grant.codeChallenge) {
      return fail(res, 400, 'invalid_grant');
    }
    const access = randomBytes(32).toString('base64url');
    const refresh = randomBytes(32).toString('base64url');
    await db.insertTokens([
      tokenRow(access, 'access', client.id, grant.userId, grant.scopes, grant.grantId),
      tokenRow(refresh, 'refresh', client.id, grant.userId, grant.scopes, grant.grantId),
    ]);
    return send(res, 200, {
      access_token: access,
      token_type: 'Bearer',
      expires_in: TTL_S,
      refresh_token: refresh,
      scope: grant.scopes.join(' '),
    });
  }
  return fail(res, 400, 'unsupported_grant_type');
}

async function authorize(req, res) {
  const q = new URL(req.url, 'http://x').searchParams;
  const client = await db.getClient(q.get('client_id') ?? '');
  const redirectUri = q.get('redirect_uri');
  if (!client || !JSON.parse(client.redirectUris).includes(redirectUri)) return fail(res, 400, 'invalid_request');
  const code = randomBytes(32).toString('base64url');
  const grant = {
    clientId: client.id,
    userId: 'u1',
    redirectUri,
    scopes: (q.get('scope') ?? '').split(' '),
    grantId: randomBytes(16).toString('base64url'),
    codeChallenge: q.get('code_challenge'),
    codeChallengeMethod: q.get('code_challenge_method'),
  };
  await redis.set(`code:${sha256hex(code)}`, JSON.stringify(grant), { expiration: { type: 'PXAT', value: Date.now() + CODE_TTL_MS } });
  const location = `${redirectUri}?code=${code}&state=${encodeURIComponent(q.get('state') ?? '')}`;
  res.writeHead(302, { Location: location, 'Cache-Control': 'no-store', 'Content-Length': 0 });
  res.end();
}

async function resource(req, res) {
  const header = req.headers.authorization;
  if (!header?.startsWith('Bearer ')) return fail(res, 401, 'invalid_token');
  const row = await db.getToken(sha256hex(header.slice(7)));
  const expires = row && new Date(row.expiresAt).getTime();
  if (!row || row.revokedAt || row.consumedAt || !(expires > Date.now())) return fail(res, 401, 'invalid_token');
  if (!JSON.parse(row.scopes).includes('read')) return fail(res, 403, 'insufficient_scope');
  const body = JSON.stringify({ ok: true, client: row.clientId });
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const server = createServer((req, res) => {
  const onError = (err) => {
    console.error(err);
    if (!res.headersSent) fail(res, 500, 'server_error');
  };
  const url = req.url ?? '/';
  if (req.method === 'POST' && url === '/oauth/token') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => token(req, res, Buffer.concat(chunks).toString('utf8')).catch(onError));
  } else if (url === '/resource') {
    resource(req, res).catch(onError);
  } else if (url.startsWith('/oauth/authorize')) {
    authorize(req, res).catch(onError);
  } else {
    fail(res, 404, 'not_found');
  }
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => console.log(`READY ${server.address().port}`));
const stop = () => {
  server.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
