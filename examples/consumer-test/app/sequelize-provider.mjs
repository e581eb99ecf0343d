// A provider on the installed packages: clients and tokens in SQLite through Sequelize, codes in
// the memory grant cache that bindCacheGrant loads by name. Prints `listening <port>` when ready.
import { createServer } from 'node:http';
import { bindSequelize, defineModels } from '@portcullis/binding-sequelize';
import { bindCacheGrant, hashSecret, OAuth2Provider, requireOAuth, sendResponse, toNodeHandler, toOAuthRequest } from '@portcullis/core';
import { Sequelize } from 'sequelize';

const sequelize = new Sequelize({ dialect: 'sqlite', storage: process.env.SQLITE_FILE, logging: false });
const models = defineModels(sequelize);
await sequelize.sync();
await models.client.create({
  id: 'app',
  secretHash: hashSecret(process.env.APP_SECRET),
  redirectUris: ['http://127.0.0.1/cb'],
  grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
  scopes: ['read'],
});

const port = Number(process.env.PORT);
const provider = new OAuth2Provider({
  issuer: `http://127.0.0.1:${port}`,
  grants: ['authorization_code', 'refresh_token', 'client_credentials'],
});
bindSequelize(provider, { sequelize, client: models.client, token: models.token });
const grants = await bindCacheGrant(provider, { OAUTH2_CACHE_TYPE: 'memory' }, () => ({ id: 'u-consumer' }));

const oauth = toNodeHandler(provider);
const me = requireOAuth(provider, 'read');
const server = createServer(async (req, res) => {
  if (req.url.startsWith('/oauth/authorize')) {
    // Consent is granted at once: the signed-in user comes from bindCacheGrant's currentUser.
    const result = await provider.authorize(await toOAuthRequest(req));
    if (result.type === 'consent') sendResponse(res, await provider.completeAuthorization(result.request, { approved: true }));
    else sendResponse(res, result.response);
  } else if (req.url === '/api/me') {
    me(req, res, () => res.end(JSON.stringify({ client: req.oauth.clientId, user: req.oauth.userId ?? null })));
  } else {
    oauth(req, res);
  }
});
server.listen(port, '127.0.0.1', () => console.log(`listening ${port}`));
process.on('SIGTERM', () => {
  server.close();
  Promise.all([grants.disconnect(), sequelize.close()]).then(() => process.exit(0));
});
