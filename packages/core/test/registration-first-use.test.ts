/**
 * The first-use mark of self-registered clients (`registration.firstUsedAt`, written through
 * `ClientRegistrationStore.markClientUsed`) and the purge of never-used ones
 * (`purgeUnusedClients`) on the memory store.
 */
import { describe, expect, it } from 'vitest';
import { type Client, createMemoryStores, hashSecret, OAuth2Provider, type OAuthRequest, type OAuthResponse } from '../src/index.js';
import { basic, form, json } from './security/fixture.js';

const ISSUER = 'https://auth.example';
const STATIC_SECRET = 'static-secret-long-enough-to-be-accepted-0123456789';

async function setup() {
  const staticClient: Client = {
    id: 'static-app',
    secretHash: hashSecret(STATIC_SECRET),
    redirectUris: ['https://app.example/cb'],
    grantTypes: ['client_credentials'],
    scopes: ['read'],
  };
  const stores = createMemoryStores({ clients: [staticClient] });
  const marks: string[] = [];
  const mark = stores.registrations.markClientUsed!;
  stores.registrations.markClientUsed = (clientId, at) => {
    marks.push(clientId);
    return mark(clientId, at);
  };
  const provider = new OAuth2Provider({
    issuer: ISSUER,
    grants: ['authorization_code', 'refresh_token', 'client_credentials'],
    scopes: ['read', 'write'],
    stores,
    registration: { enabled: true, grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'], scopes: ['read', 'write'] },
  });
  return { provider, stores, marks };
}

async function handle(p: OAuth2Provider, req: OAuthRequest): Promise<OAuthResponse> {
  const r = await p.handle(req);
  if (!r) throw new Error(`not routed: ${req.url}`);
  return r;
}

async function register(p: OAuth2Provider) {
  const r = await handle(p, {
    method: 'POST',
    url: '/oauth/register',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_types: ['client_credentials'], response_types: [], scope: 'read' }),
    remoteAddress: '10.0.0.1',
  });
  expect(r.status, r.body).toBe(201);
  return json(r) as { client_id: string; client_secret: string; registration_access_token: string };
}

const token = (p: OAuth2Provider, id: string, secret: string, scope = 'read') =>
  p.token(form({ grant_type: 'client_credentials', scope }, { authorization: basic(id, secret) }));

describe('first use of a self-registered client', () => {
  it('is marked once, at its first token; later tokens write nothing', async () => {
    const { provider, stores, marks } = await setup();
    const c = await register(provider);
    expect((await stores.clients.getClient(c.client_id))?.registration?.firstUsedAt).toBeUndefined();
    const before = Date.now();
    for (let i = 0; i < 3; i++) expect((await token(provider, c.client_id, c.client_secret)).status).toBe(200);
    expect(marks).toEqual([c.client_id]);
    const used = (await stores.clients.getClient(c.client_id))?.registration?.firstUsedAt;
    expect(used).toBeInstanceOf(Date);
    expect(used!.getTime()).toBeGreaterThanOrEqual(before);
    // A purge whose cut is after the registration keeps it: it was used.
    expect(await stores.registrations.purgeUnusedClients!(new Date(Date.now() + 60_000), 100)).toBe(0);
    expect(await stores.clients.getClient(c.client_id)).not.toBeNull();
  });

  it('statically configured clients are never marked', async () => {
    const { provider, marks } = await setup();
    expect((await token(provider, 'static-app', STATIC_SECRET)).status).toBe(200);
    expect(marks).toEqual([]);
  });

  it('a management update keeps the mark', async () => {
    const { provider, stores } = await setup();
    const c = await register(provider);
    expect((await token(provider, c.client_id, c.client_secret)).status).toBe(200);
    const used = (await stores.clients.getClient(c.client_id))?.registration?.firstUsedAt;
    const r = await handle(provider, {
      method: 'PUT',
      url: `/oauth/register/${c.client_id}`,
      headers: { authorization: `Bearer ${c.registration_access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: c.client_id, grant_types: ['client_credentials'], response_types: [], scope: 'read write' }),
    });
    expect(r.status, r.body).toBe(200);
    expect(json(r)).not.toHaveProperty('first_used_at');
    const after = await stores.clients.getClient(c.client_id);
    expect(after?.scopes).toEqual(['read', 'write']);
    expect(after?.registration?.firstUsedAt?.getTime()).toBe(used!.getTime());
  });

  it('refused token requests (wrong secret, unknown scope) do not mark the client, and the purge removes it', async () => {
    const { provider, stores, marks } = await setup();
    const c = await register(provider);
    expect((await token(provider, c.client_id, `${c.client_secret}x`)).status).toBe(401);
    expect((await token(provider, c.client_id, c.client_secret, 'admin')).status).toBe(400);
    expect(marks).toEqual([]);
    expect((await stores.clients.getClient(c.client_id))?.registration?.firstUsedAt).toBeUndefined();
    // Static clients are kept whatever the cut; the never-used registration goes.
    expect(await stores.registrations.purgeUnusedClients!(new Date(Date.now() + 60_000), 100)).toBe(1);
    expect(await stores.clients.getClient(c.client_id)).toBeNull();
    expect(await stores.clients.getClient('static-app')).not.toBeNull();
    expect((await token(provider, c.client_id, c.client_secret)).status).toBe(401);
  });

  it('a failed mark fails the token request, and the next request marks it', async () => {
    const { provider, stores } = await setup();
    const c = await register(provider);
    const mark = stores.registrations.markClientUsed!;
    stores.registrations.markClientUsed = async () => {
      throw new Error('store down');
    };
    const failed = await token(provider, c.client_id, c.client_secret);
    expect(failed.status).toBeGreaterThanOrEqual(500);
    expect(failed.body).not.toContain('access_token');
    stores.registrations.markClientUsed = mark;
    expect((await token(provider, c.client_id, c.client_secret)).status).toBe(200);
    expect((await stores.clients.getClient(c.client_id))?.registration?.firstUsedAt).toBeInstanceOf(Date);
  });
});
