/**
 * A Flask-OAuthlib provider, ported: the getters (its decorators), or the bindings (its
 * `bind_sqlalchemy` and `bind_cache_grant`), and the HTTP handlers on node:http.
 * Guide: docs/migrating-from-flask-oauthlib.md.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { bindSequelize, defineModels } from '@portcullis/binding-sequelize';
import {
  type AccessTokenRecord,
  BodyTooLargeError,
  bindCacheGrant,
  type Client,
  type CurrentUser,
  errorResponse,
  type FlaskConfig,
  type GrantRecord,
  InvalidGrantError,
  OAuth2Provider,
  type OAuthRequest,
  type RefreshTokenRecord,
  sendResponse,
  toNodeHandler,
  toOAuthRequest,
  type User,
  type UserCredentials,
  withOAuth,
} from '@portcullis/core';
import type { Sequelize } from 'sequelize';

// app.config: the OAUTH2_PROVIDER_* keys are read as they are (typed options win over them), and
// bindCacheGrant reads the OAUTH2_CACHE_* keys of the same object.
export const config: FlaskConfig = {
  OAUTH2_PROVIDER_TOKEN_EXPIRES_IN: 600,
  OAUTH2_PROVIDER_ERROR_URI: 'https://auth.example/oauth/errors',
  OAUTH2_CACHE_TYPE: 'memory',
};

export interface AppUser extends User {
  readonly username: string;
}

/** Your session store (Flask's session + Flask-Login); a cookie `session=<id>` names the user. */
export const sessions = new Map<string, AppUser>();
export const currentUser: CurrentUser<AppUser> = (request: OAuthRequest) => {
  const cookie = String(request.headers.cookie ?? '');
  const id = /(?:^|;\s*)session=([^;]+)/.exec(cookie)?.[1];
  return (id && sessions.get(id)) || null;
};

/** Users whose requests the after_request hook refuses. */
export const suspendedUsers = new Set<string>();

// OAuth2Provider(app)
function newProvider(): OAuth2Provider<AppUser> {
  const provider = new OAuth2Provider<AppUser>({
    issuer: 'https://auth.example',
    grants: ['authorization_code', 'refresh_token', 'password'],
    config,
  });
  // @oauth.after_request: `return False, oauth` becomes an error response (tokens issued are revoked).
  provider.afterRequest((ctx, outcome) => {
    if (ctx.endpoint === 'token' && outcome.valid && outcome.userId !== null && suspendedUsers.has(outcome.userId)) {
      return errorResponse(new InvalidGrantError('This account is suspended'));
    }
    return undefined;
  });
  return provider;
}

/** Your tables. Codes and tokens are keyed by the digests core hands over, never the values. */
export interface Tables {
  clients: Map<string, Client>;
  users: Map<string, UserCredentials<AppUser>>;
  codes: Map<string, GrantRecord>;
  tokens: Map<string, (AccessTokenRecord | RefreshTokenRecord) & { kind: 'access' | 'refresh'; used?: boolean }>;
}

/** The decorators, one by one. */
export function createProviderWithGetters(db: Tables): OAuth2Provider<AppUser> {
  const provider = newProvider();
  const live = (r: { expiresAt: Date }) => r.expiresAt.getTime() > Date.now();

  // @oauth.clientgetter
  provider.clientGetter(async (clientId) => db.clients.get(clientId) ?? null);

  // @oauth.usergetter: return the user and its hash; core verifies the password.
  provider.userGetter(async (username) => db.users.get(username) ?? null);

  // @oauth.grantsetter
  provider.grantSetter(async (grant) => {
    db.codes.set(JSON.stringify([grant.clientId, grant.code]), grant);
  });

  // @oauth.grantgetter, and the grant.delete() that followed it, as one atomic step.
  provider.grantGetter(async (clientId, code) => {
    const key = JSON.stringify([clientId, code]);
    const grant = db.codes.get(key);
    db.codes.delete(key); // no await between the read and the delete: one caller wins
    return grant && live(grant) ? { outcome: 'consumed', record: grant } : null;
  });

  // @oauth.tokensetter: keep the user's other tokens (no "one token per client and user").
  provider.tokenSetter(async (access, refresh) => {
    db.tokens.set(`access ${access.token}`, { ...access, kind: 'access' });
    if (refresh) db.tokens.set(`refresh ${refresh.token}`, { ...refresh, kind: 'refresh' });
  });

  // @oauth.tokengetter(access_token=...)
  provider.tokenGetter(async (token) => {
    const t = db.tokens.get(`access ${token}`);
    return t && live(t) ? t : null;
  });

  // @oauth.tokengetter(refresh_token=...): a lookup, and an atomic consume for rotation.
  provider.register('tokens.getRefreshToken', async (token) => {
    const t = db.tokens.get(`refresh ${token}`);
    return t && live(t) && !t.used ? t : null;
  });
  provider.register('tokens.consumeRefreshToken', async (token) => {
    const t = db.tokens.get(`refresh ${token}`);
    if (!t || !live(t)) return null;
    if (t.used) return { outcome: 'replayed', grantId: t.grantId }; // core revokes the family
    t.used = true;
    return { outcome: 'consumed', record: t };
  });

  // token.delete(), as the revoke handler called it: one token, or a whole family.
  provider.register('tokens.revokeAccessToken', async (token) => {
    db.tokens.delete(`access ${token}`);
  });
  provider.register('tokens.revokeFamily', async (grantId) => {
    for (const [key, t] of db.tokens) if (t.grantId === grantId) db.tokens.delete(key);
  });

  // current_user, asked when the user approves.
  provider.setCurrentUser(currentUser);
  return provider;
}

/** bind_sqlalchemy(provider, db.session, user=User, client=Client, token=Token) and bind_cache_grant(app, provider, current_user). */
export async function createProviderWithBindings(sequelize: Sequelize): Promise<OAuth2Provider<AppUser>> {
  const provider = newProvider();
  const models = defineModels(sequelize);
  bindSequelize(provider, { sequelize, client: models.client, user: models.user, token: models.token });
  await bindCacheGrant(provider, config, currentUser, { importModule: (specifier) => import(specifier) });
  return provider;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** @oauth.authorize_handler: GET shows the consent form, POST carries the user's answer. */
async function authorizeHandler(provider: OAuth2Provider<AppUser>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let request: OAuthRequest;
  try {
    request = await toOAuthRequest(req);
  } catch (err) {
    res.writeHead(err instanceof BodyTooLargeError ? 413 : 400).end();
    return;
  }
  if (req.method === 'GET') {
    const result = await provider.authorize(request);
    if (result.type === 'response') return sendResponse(res, result.response); // error page or error redirect
    const { client, scopes, query } = result.request;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    // Add your CSRF token to this form, as Flask-WTF did.
    res.end(
      `<form method="post"><p>${escapeHtml(client.id)} asks for: ${escapeHtml(scopes.join(', '))}</p>` +
        `<input type="hidden" name="query" value="${escapeHtml(query)}">` +
        `<button name="confirm" value="yes">Allow</button><button name="confirm" value="no">Deny</button></form>`,
    );
    return;
  }
  // `return confirm == 'yes'`: the query is validated again; the user comes from currentUser.
  const form = new URLSearchParams(request.body ?? '');
  sendResponse(res, await provider.completeAuthorization(form.get('query') ?? '', { approved: form.get('confirm') === 'yes' }, request));
}

export function createApp(provider: OAuth2Provider<AppUser>): Server {
  // @oauth.token_handler and @oauth.revoke_handler (plus introspection and metadata).
  const oauth = toNodeHandler(provider);
  // @oauth.require_oauth('email'): req.oauth holds the user id, client id and scopes.
  const me = withOAuth(provider, ['email'], (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ user: req.oauth.userId, scopes: req.oauth.scopes }));
  });
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/oauth/authorize') return void authorizeHandler(provider, req, res);
    if (path === '/api/me') return void me(req, res);
    return void oauth(req, res);
  });
}
