// Incumbent: @node-oauth/oauth2-server 5.3 on Express 5 with an in-memory model (Maps), doing
// client_credentials at POST /oauth/token and a bearer-protected resource at GET /resource.
import { timingSafeEqual } from 'node:crypto';
import OAuth2Server from '@node-oauth/oauth2-server';
import express from 'express';

const { Request, Response, OAuthError } = OAuth2Server;

const clients = new Map([
  [
    'c1',
    {
      id: 'c1',
      secret: 's3cret-for-the-benchmark-0123456789',
      grants: ['client_credentials'],
      redirectUris: [],
      scopes: ['read', 'write'],
    },
  ],
]);
const tokens = new Map();

function sameSecret(a, b) {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const model = {
  async getClient(clientId, clientSecret) {
    const c = clients.get(clientId);
    if (!c || (clientSecret != null && !sameSecret(clientSecret, c.secret))) return null;
    return c;
  },
  async getUserFromClient(client) {
    return { id: `client:${client.id}` };
  },
  async validateScope(_user, client, scope) {
    if (!scope) return false;
    return scope.every((s) => client.scopes.includes(s)) ? scope : false;
  },
  async saveToken(token, client, user) {
    const saved = { ...token, client, user };
    tokens.set(token.accessToken, saved);
    return saved;
  },
  async getAccessToken(accessToken) {
    return tokens.get(accessToken) ?? null;
  },
  async verifyScope(token, scope) {
    return scope.every((s) => token.scope.includes(s));
  },
};

const oauth = new OAuth2Server({ model, accessTokenLifetime: 3600 });

function fail(res, e) {
  const status = e instanceof OAuthError ? e.code : 500;
  res.status(status).json({ error: e.name ?? 'server_error', error_description: e.message });
}

const app = express();
app.disable('x-powered-by');
app.post('/oauth/token', express.urlencoded({ extended: false }), async (req, res) => {
  const request = new Request(req);
  const response = new Response(res);
  try {
    await oauth.token(request, response);
    res.set(response.headers);
    res.status(response.status).json(response.body);
  } catch (e) {
    fail(res, e);
  }
});
app.get('/resource', async (req, res) => {
  const request = new Request(req);
  const response = new Response(res);
  try {
    const token = await oauth.authenticate(request, response, { scope: ['read'] });
    res.json({ ok: true, client: token.client.id });
  } catch (e) {
    fail(res, e);
  }
});
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => console.log(`READY ${server.address().port}`));
