import assert from 'node:assert/strict';
import {
  clientRegistrationStoreSuite,
  makeRegisteredClient,
  REGISTRATION_FLOW_OPTIONS,
  registrationChecks,
  registrationFlow,
} from '@portcullis/binding-testkit';
import { type Client, createMemoryStores, OAuth2Provider, type ProviderStores } from '@portcullis/core';
import { afterAll, beforeAll, describe, it } from 'vitest';

/** The client-registration checks: core's memory store passes them, broken stores fail them. */

const t = { describe, it, beforeAll, afterAll };

clientRegistrationStoreSuite(t, {
  name: 'core memory store',
  create: async () => {
    const s = createMemoryStores();
    return { clients: s.clients, registrations: s.registrations };
  },
});

type Change = (c: Client) => Client;
const tick = () => new Promise((r) => setTimeout(r, 2));

/**
 * A map-backed store that keeps a transformed copy of each client. `racy`: create reads, waits a
 * tick, then writes. `merge`: update keeps the old fields it is not given. `upsert`: update of an
 * unknown id creates it. `overwrite`: create of an existing id replaces it. `alwaysTrue`: delete
 * answers true for unknown ids.
 */
function mapStore(
  opts: {
    store?: Change;
    racy?: boolean;
    merge?: boolean;
    upsert?: boolean;
    overwrite?: boolean;
    alwaysTrue?: boolean;
    /** How `purgeUnusedClients` is broken: ignores the limit, takes static, used or young clients, or `<=` the cut. */
    purge?: 'noLimit' | 'static' | 'used' | 'young' | 'atCut';
    /** How `markClientUsed` is broken: overwrites an earlier mark, or an update clears it. */
    mark?: 'overwrite' | 'updateClears';
    /** How `listClients` is broken: locale (case-insensitive) order, `after` kept inclusive, or no input checks. */
    list?: 'locale' | 'inclusive' | 'lax';
  } = {},
) {
  const rows = new Map<string, Client>();
  const keep = opts.store ?? ((c) => structuredClone(c));
  return {
    clients: { getClient: async (id: string) => (rows.has(id) ? structuredClone(rows.get(id) as Client) : null) },
    registrations: {
      async createClient(c: Client) {
        if (rows.has(c.id) && !opts.overwrite) return false;
        if (opts.racy) await tick();
        rows.set(c.id, keep(c));
        return true;
      },
      async updateClient(c: Client) {
        const old = rows.get(c.id);
        if (!old && !opts.upsert) return false;
        const given = Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)) as unknown as Client;
        const next = opts.merge && old ? { ...old, ...given } : c;
        const used = old?.registration?.firstUsedAt;
        const kept =
          used && next.registration && !next.registration.firstUsedAt && opts.mark !== 'updateClears'
            ? { ...next, registration: { ...next.registration, firstUsedAt: used } }
            : next;
        rows.set(c.id, keep(kept));
        return true;
      },
      async markClientUsed(id: string, at: Date) {
        const c = rows.get(id);
        if (!c?.registration || (c.registration.firstUsedAt && opts.mark !== 'overwrite')) return false;
        rows.set(id, { ...c, registration: { ...c.registration, firstUsedAt: new Date(at.getTime()) } });
        return true;
      },
      async purgeUnusedClients(before: Date, limit: number) {
        let n = 0;
        for (const [id, c] of rows) {
          if (n >= limit && opts.purge !== 'noLimit') break;
          const r = c.registration;
          const due =
            opts.purge === 'static'
              ? !r || (!r.firstUsedAt && r.issuedAt < before)
              : r !== undefined &&
                (opts.purge === 'used' || !r.firstUsedAt) &&
                (opts.purge === 'young' ||
                  r.issuedAt.getTime() < before.getTime() ||
                  (opts.purge === 'atCut' && r.issuedAt.getTime() === before.getTime()));
          if (due) {
            rows.delete(id);
            n++;
          }
        }
        return n;
      },
      async deleteClient(id: string) {
        return rows.delete(id) || opts.alwaysTrue === true;
      },
      async listClients(after: string | null, limit: number) {
        if (opts.list !== 'lax' && ((after !== null && typeof after !== 'string') || !Number.isInteger(limit) || limit < 1)) {
          throw new RangeError('bad listClients input');
        }
        const order =
          opts.list === 'locale' ? (a: string, b: string) => a.localeCompare(b) : (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
        const ids = [...rows.keys()]
          .filter((id) => after === null || (opts.list === 'inclusive' ? id >= after : order(id, after) > 0))
          .sort(order);
        const page = ids.slice(0, Math.max(0, Math.floor(limit)));
        return {
          clients: page.map((id) => structuredClone(rows.get(id) as Client)),
          next: ids.length > page.length ? (page.at(-1) ?? null) : null,
        };
      },
    },
  };
}

/** Through JSON and back, as a naive document or text column would keep it. */
const viaJson: Change = (c) => JSON.parse(JSON.stringify(c));
/** Every unset optional field written as NULL and read back as null, as a naive SQL row would. */
const nulls: Change = (c) =>
  ({ name: null, uri: null, logoUri: null, clientSecretExpiresAt: null, ...structuredClone(c) }) as unknown as Client;

describe('the registration suite catches broken stores', () => {
  it('passes every check on the correct map store', async () => {
    for (const c of Object.values(registrationChecks)) await c.run(mapStore());
  });

  it('catches clients listed out of code-point order, an inclusive after, and unchecked input', async () => {
    await assert.rejects(registrationChecks.listClients.run(mapStore({ list: 'locale' })), /code-point order/);
    await assert.rejects(registrationChecks.listClients.run(mapStore({ list: 'inclusive' })), /pages of 1|code-point order|strictly after/);
    await assert.rejects(registrationChecks.listClients.run(mapStore({ list: 'lax' })), /must be refused/);
    const { clients, registrations } = mapStore();
    const { listClients: _, ...unlisted } = registrations;
    await assert.rejects(registrationChecks.listClients.run({ clients, registrations: unlisted }), /must have listClients/);
  });

  it('catches dates kept as strings, unset fields read as null, and lost or reordered fields', async () => {
    await assert.rejects(registrationChecks.roundTrip.run(mapStore({ store: viaJson })), /must come back as a Date/);
    await assert.rejects(registrationChecks.roundTrip.run(mapStore({ store: nulls })), /must stay absent \(not null\)/);
    const noNull: Change = (c) => {
      const { clientSecretExpiresAt, ...rest } = structuredClone(c);
      return clientSecretExpiresAt === null ? (rest as Client) : c;
    };
    await assert.rejects(registrationChecks.roundTrip.run(mapStore({ store: noNull })), /null must come back null/);
    const seconds: Change = (c) => {
      const copy = structuredClone(c);
      const at = copy.clientSecretExpiresAt;
      return at ? { ...copy, clientSecretExpiresAt: new Date(Math.floor(at.getTime() / 1000) * 1000) } : copy;
    };
    await assert.rejects(registrationChecks.roundTrip.run(mapStore({ store: seconds })), /to the millisecond/);
    const noContacts: Change = (c) => {
      const copy = structuredClone(c);
      if (!copy.registration) return copy;
      const { contacts: _, ...reg } = copy.registration;
      return { ...copy, registration: reg };
    };
    await assert.rejects(registrationChecks.roundTrip.run(mapStore({ store: noContacts })), /contacts/);
    const sorted: Change = (c) => ({ ...structuredClone(c), redirectUris: [...c.redirectUris].reverse() });
    await assert.rejects(registrationChecks.roundTrip.run(mapStore({ store: sorted })), /redirectUris must round-trip/);
    const noPar: Change = (c) => ({ ...structuredClone(c), requirePushedAuthorizationRequests: undefined });
    await assert.rejects(
      registrationChecks.roundTrip.run(mapStore({ store: noPar })),
      /requirePushedAuthorizationRequests must come back true/,
    );
    const emptyResources: Change = (c) =>
      c.resources?.length === 0 ? { ...structuredClone(c), resources: undefined } : structuredClone(c);
    await assert.rejects(registrationChecks.roundTrip.run(mapStore({ store: emptyResources })), /resources must come back as an array/);
  });

  it('catches a create that overwrites, and concurrent creates with several winners', async () => {
    await assert.rejects(registrationChecks.createExisting.run(mapStore({ overwrite: true })), /must answer false/);
    await assert.rejects(
      registrationChecks.createConcurrent.run(mapStore({ racy: true })),
      /exactly one of 10 concurrent creates must win, 10 did/,
    );
  });

  it('catches an update that merges, an update that upserts, and a delete that always answers true', async () => {
    await assert.rejects(registrationChecks.updateReplaces.run(mapStore({ merge: true })), /must stay absent/);
    await assert.rejects(registrationChecks.unknownIds.run(mapStore({ upsert: true })), /updateClient of an unknown id must answer false/);
    await assert.rejects(
      registrationChecks.unknownIds.run(mapStore({ alwaysTrue: true })),
      /deleteClient of an unknown id must answer false/,
    );
    await assert.rejects(registrationChecks.delete.run(mapStore({ alwaysTrue: true })), /a second deleteClient/);
    const purge = registrationChecks.purgeUnused;
    await assert.rejects(purge.run(mapStore({ purge: 'noLimit' })), /limit 0 must remove nothing/);
    await assert.rejects(purge.run(mapStore({ purge: 'static' })), /client without registration/);
    await assert.rejects(purge.run(mapStore({ purge: 'used' })), /a used client must be kept/);
    await assert.rejects(purge.run(mapStore({ purge: 'young' })), /registered after the cut|exactly at the cut/);
    await assert.rejects(purge.run(mapStore({ purge: 'atCut' })), /exactly at the cut/);
    await assert.rejects(purge.run(mapStore({ mark: 'overwrite' })), /a second markClientUsed/);
    await assert.rejects(purge.run(mapStore({ mark: 'updateClears' })), /after an update that left it out/);
    const { markClientUsed: _m, ...noMark } = mapStore().registrations;
    await assert.rejects(purge.run({ ...mapStore(), registrations: noMark }), /must implement markClientUsed/);
  });

  it('makeRegisteredClient gives every optional field', () => {
    const c = makeRegisteredClient();
    for (const k of ['name', 'uri', 'logoUri', 'clientSecretExpiresAt', 'registration', 'resources', 'defaultScopes'] as const) {
      assert.ok(c[k] !== undefined, k);
    }
  });
});

function flowProvider(stores: ProviderStores): OAuth2Provider {
  return new OAuth2Provider({
    issuer: 'https://auth.example',
    grants: ['authorization_code', 'refresh_token', 'client_credentials'],
    scopes: ['read', 'write'],
    stores,
    registration: {
      ...REGISTRATION_FLOW_OPTIONS,
      grantTypes: [...REGISTRATION_FLOW_OPTIONS.grantTypes],
      scopes: [...REGISTRATION_FLOW_OPTIONS.scopes],
    },
  });
}

describe('registrationFlow', () => {
  it('passes on core memory stores, and inspect sees both secrets', async () => {
    const stores = createMemoryStores();
    const seen: string[] = [];
    const r = await registrationFlow(flowProvider(stores), {
      inspect: async (step, s) => {
        seen.push(step);
        const stored = await stores.clients.getClient(s.clientId);
        assert.ok(stored?.secretHash && !stored.secretHash.includes(s.clientSecret));
        assert.notEqual(stored.registration?.accessTokenHash, s.registrationAccessToken);
      },
    });
    assert.deepEqual(seen, ['registered', 'updated']);
    assert.equal(await stores.clients.getClient(r.clientId), null);
  });

  it('fails on stores whose delete or update does nothing', async () => {
    const noDelete = createMemoryStores();
    const keepDeleting = { ...noDelete, registrations: { ...noDelete.registrations, deleteClient: async () => true } };
    await assert.rejects(registrationFlow(flowProvider(keepDeleting)), /read after delete/);
    const noUpdate = createMemoryStores();
    const keepUpdating = { ...noUpdate, registrations: { ...noUpdate.registrations, updateClient: async () => true } };
    await assert.rejects(registrationFlow(flowProvider(keepUpdating)), /old token|the update replaced/);
  });
});
