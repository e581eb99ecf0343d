import { createHash } from 'node:crypto';
import {
  type AccessTokenRecord,
  type Client,
  type ClientRegistrationStore,
  type ClientStore,
  type Consumed,
  type DeviceCodeRecord,
  type DeviceCodeStore,
  type GrantRecord,
  type GrantStore,
  isStoreUnavailable,
  type KeyStore,
  type RefreshTokenRecord,
  type SigningKeyRecord,
  StoreUnavailableError,
  type TokenStore,
  type User,
  type UserCredentials,
  type UserGrantStore,
  type UserGrantSummary,
  type UserStore,
} from '@portcullis/core';
import type { Model } from 'mongoose';
import type {
  ClientDocument,
  ClientRegistrationDocument,
  DeviceCodeDocument,
  GrantDocument,
  SigningKeyDocument,
  TokenDocument,
  UserDocument,
} from './schemas.js';

/**
 * The value stored in `key` for a code or token: SHA-256 (hex) of the key's UTF-16 code units.
 * Fixed length whatever the input (empty, 8 KiB, non-ASCII, lone surrogates), so lookups never
 * hit index-size limits and distinct keys never collide through encoding; the raw value is
 * never at rest. Exported for tools that read the collections directly.
 */
export function lookupKey(key: string): string {
  return createHash('sha256').update(Buffer.from(key, 'utf16le')).digest('hex');
}

// Errors meaning "the server cannot be reached right now", by name so that two copies of the
// driver agree. Mongoose's own buffering timeout (a plain MongooseError) is matched by message.
const UNREACHABLE = new Set([
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoServerSelectionError',
  'MongoNotConnectedError',
  'MongoTopologyClosedError',
  'MongoServerClosedError',
  'MongoClientClosedError',
  'MongoPoolClearedError',
  'MongoPoolClosedError',
  'MongoWaitQueueTimeoutError',
  'MongoOperationTimeoutError',
]);

function unreachable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; depth++) {
    if (UNREACHABLE.has(e.name)) return true;
    if (e.name === 'MongooseError' && /buffering timed out/.test(e.message)) return true;
    // A bulk write (insertMany) wraps the network error it met in `errorResponse`.
    const { errorResponse } = e as { errorResponse?: unknown };
    e = errorResponse instanceof Error ? errorResponse : e.cause;
  }
  return isStoreUnavailable(err);
}

/** Runs one database operation, turning connection failures into `StoreUnavailableError`. */
async function run<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (unreachable(err)) throw new StoreUnavailableError(`MongoDB is unreachable (${operation})`, { cause: err });
    throw err;
  }
}

// Every value that reaches a filter is checked to be a string and wrapped in `$eq`, so an
// object such as `{ "$gt": "" }` smuggled in as an id, code or token never matches anything.
const isString = (value: unknown): value is string => typeof value === 'string';
const eq = <T extends string>(value: T) => ({ $eq: value });

// Each factory accepts the default model or any model whose documents keep the default fields.

/**
 * Client store over a model with the fields of `clientSchema`. Any extra fields of the document
 * are returned on the client, so `C` can carry them. `resourceServer` comes back only when the
 * document holds `true`.
 */
export function createClientStore<C extends Client = Client, D extends ClientDocument = ClientDocument>(model: Model<D>): ClientStore<C> {
  const clients = model as unknown as Model<ClientDocument>;
  return {
    getClient: (clientId) =>
      run('getClient', async () => {
        if (!isString(clientId)) return null;
        const doc = await clients.findOne({ clientId: eq(clientId) }, { _id: 0, __v: 0 }).lean<ClientDocument>();
        if (!doc) return null;
        return clientFromDocument<C>(doc);
      }),
  };
}

/** A client document (read lean, without `_id` and `__v`) as core's `Client`. */
function clientFromDocument<C extends Client>(doc: ClientDocument): C {
  const { clientId: id, resourceServer, ...rest } = doc;
  // Only a stored `true` makes a resource server; `false`, `null` or a missing field (documents
  // written before it existed) leave it out, and so does anything written past the schema.
  return (resourceServer === true ? { ...rest, id, resourceServer } : { ...rest, id }) as unknown as C;
}

/** The largest page `listClients` answers; a larger `limit` gives this many. */
const LIST_CLIENTS_MAX = 1000;

/** The document for a client: `id` as `clientId`, arrays copied, absent (or `undefined`) fields left out. */
function clientDocument(client: Client): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    clientId: client.id,
    secretHash: client.secretHash,
    redirectUris: [...client.redirectUris],
    grantTypes: [...client.grantTypes],
    scopes: [...client.scopes],
  };
  for (const [k, v] of Object.entries(client)) {
    if (v === undefined || k === 'id' || doc[k] !== undefined) continue;
    if (k === 'registration') {
      const r = v as NonNullable<Client['registration']>;
      doc.registration = {
        accessTokenHash: r.accessTokenHash,
        issuedAt: r.issuedAt,
        ...(r.contacts !== undefined ? { contacts: [...r.contacts] } : {}),
        ...(r.softwareId !== undefined ? { softwareId: r.softwareId } : {}),
        ...(r.softwareVersion !== undefined ? { softwareVersion: r.softwareVersion } : {}),
        responseTypes: [...r.responseTypes],
        ...(r.firstUsedAt !== undefined ? { firstUsedAt: r.firstUsedAt } : {}),
      };
    } else doc[k] = Array.isArray(v) ? [...v] : v;
  }
  return doc;
}

/** `true` for MongoDB's duplicate-key error (E11000), however the driver wrapped it. */
function duplicateKey(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    if ((e as { code?: unknown }).code === 11000) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * A `ClientRegistrationStore` (dynamic client registration, RFC 7591/7592) over the client model
 * of `createClientStore`, which then finds the clients it writes. `createClient` is one insert
 * (the unique index on `clientId` picks the winner of concurrent creates; a duplicate answers
 * `false`; the index is built first when the model builds its own), `updateClient` one
 * `replaceOne` (fields the new record leaves out are gone; a first-use mark is kept),
 * `deleteClient` one `deleteOne`, `listClients` one `find` of a page in code-point `clientId`
 * order (the simple binary collation, whatever the collection's default; `after` a string or
 * null, `limit` a positive integer, at most 1000 per page), `markClientUsed` one conditional `updateOne` (only while
 * `registration.firstUsedAt` is unset), `purgeUnusedClients` a `find` of at most `limit` ids then
 * one `deleteMany` repeating its conditions (never-used self-registered clients registered
 * before the cut; clients without `registration` never).
 * Secrets arrive hashed (`secretHash`, `registration.accessTokenHash`) and are stored as given.
 */
export function createClientRegistrationStore<C extends Client = Client, D extends ClientDocument = ClientDocument>(
  model: Model<D>,
): ClientRegistrationStore<C> {
  const clients = model as unknown as Model<ClientDocument>;
  let ready: Promise<unknown> | undefined;
  return {
    createClient: (client) =>
      run('createClient', async () => {
        ready ??= clients.init();
        await ready;
        try {
          await clients.create(clientDocument(client));
          return true;
        } catch (err) {
          if (duplicateKey(err)) return false;
          throw err;
        }
      }),
    updateClient: (client) =>
      run('updateClient', async () => {
        if (!isString(client.id)) return false;
        const doc = clientDocument(client);
        // A first-use mark, once set, stays: the replacement carries the stored one, and is made
        // only while the stored mark is still what was read (a mark set in between is read again).
        for (let attempt = 0; attempt <= 3; attempt++) {
          const old = await clients.findOne({ clientId: eq(client.id) }, { registration: 1 }).lean<Pick<ClientDocument, 'registration'>>();
          if (!old) return false;
          const used = old.registration?.firstUsedAt;
          const reg = doc.registration as ClientRegistrationDocument | undefined;
          const next = used && reg && reg.firstUsedAt === undefined ? { ...doc, registration: { ...reg, firstUsedAt: used } } : doc;
          const filter = attempt < 3 ? { clientId: eq(client.id), 'registration.firstUsedAt': used ?? null } : { clientId: eq(client.id) };
          if ((await clients.replaceOne(filter, next)).matchedCount > 0) return true;
        }
        return false;
      }),
    listClients: (after, limit) =>
      run('listClients', async () => {
        // Strings only reach the query: an object `after` would be an operator.
        if (after !== null && !isString(after)) throw new TypeError('listClients: after must be a string or null');
        if (!Number.isInteger(limit) || limit < 1) throw new RangeError('listClients: limit must be a positive integer');
        const size = Math.min(limit, LIST_CLIENTS_MAX);
        const docs = await clients
          .find(after === null ? {} : { clientId: { $gt: after } }, { _id: 0, __v: 0 })
          .sort({ clientId: 1 })
          .collation({ locale: 'simple' })
          .limit(size + 1)
          .lean<ClientDocument[]>();
        const page = docs.slice(0, size).map((d) => clientFromDocument<C>(d));
        return { clients: page, next: docs.length > size ? (page.at(-1)?.id ?? null) : null };
      }),
    deleteClient: (clientId) =>
      run('deleteClient', async () => {
        if (!isString(clientId)) return false;
        return (await clients.deleteOne({ clientId: eq(clientId) })).deletedCount > 0;
      }),
    markClientUsed: (clientId, at) =>
      run('markClientUsed', async () => {
        if (!isString(clientId)) return false;
        const result = await clients.updateOne(
          { clientId: eq(clientId), registration: { $type: 'object' as const }, 'registration.firstUsedAt': null },
          { $set: { 'registration.firstUsedAt': at } },
        );
        return result.modifiedCount > 0;
      }),
    purgeUnusedClients: (registeredBefore, limit) =>
      run('purgeUnusedClients', async () => {
        if (!Number.isInteger(limit) || limit < 0) throw new RangeError('purgeUnusedClients: limit must be a non-negative integer');
        if (limit === 0) return 0;
        const due = {
          registration: { $type: 'object' as const },
          'registration.issuedAt': { $lt: registeredBefore },
          'registration.firstUsedAt': null,
        };
        const ids = (
          await clients.find(due, { clientId: 1, _id: 0 }).sort({ clientId: 1 }).limit(limit).lean<{ clientId: string }[]>()
        ).map((d) => d.clientId);
        if (ids.length === 0) return 0;
        // The conditions again: a client marked since the find stays.
        return (await clients.deleteMany({ ...due, clientId: { $in: ids } })).deletedCount;
      }),
  };
}

/**
 * User store over a model with the fields of `userSchema`, looked up by `username`. The user
 * returned is `{ id: userId, ...extra fields }` (without `username` and `passwordHash`).
 */
export function createUserStore<U extends User = User, D extends UserDocument = UserDocument>(model: Model<D>): UserStore<U> {
  const users = model as unknown as Model<UserDocument>;
  return {
    getUserByUsername: (username) =>
      run('getUserByUsername', async (): Promise<UserCredentials<U> | null> => {
        if (!isString(username)) return null;
        const doc = await users.findOne({ username: eq(username) }, { _id: 0, __v: 0 }).lean<UserDocument>();
        if (!doc) return null;
        const { userId, username: _name, passwordHash, ...rest } = doc;
        return { user: { ...rest, id: userId } as unknown as U, passwordHash };
      }),
  };
}

/**
 * An optional RFC 8707 list as stored: a copy when it has string values; `undefined` (the field
 * left out) when absent, empty, or not an array of strings (written past the schema).
 */
function list(value: unknown): string[] | undefined {
  if (!Array.isArray(value) || value.length === 0 || !value.every(isString)) return undefined;
  return [...value];
}

/** An optional DPoP key thumbprint as stored: the string when set; `undefined` (left out) when absent, `null`, '' or not a string. */
function jkt(value: unknown): string | undefined {
  return isString(value) && value !== '' ? value : undefined;
}

/** `{ dpopJkt }` for a bound record, nothing for an unbound one: the field is written only when set. */
function withJkt(value: unknown): { dpopJkt?: string } {
  const v = jkt(value);
  return v ? { dpopJkt: v } : {};
}

/**
 * An optional `authTime` (the `auth_time` of RFC 9068) as stored: a copy of the `Date` when set;
 * `undefined` (left out) when absent, `null`, not a `Date` (written past the schema) or invalid.
 */
function authTimeOf(value: unknown): Date | undefined {
  return value instanceof Date && !Number.isNaN(value.getTime()) ? new Date(value.getTime()) : undefined;
}

/** `{ authTime }` for a record that has one, nothing otherwise: the field is written only when set. */
function withAuthTime(value: unknown): { authTime?: Date } {
  const v = authTimeOf(value);
  return v ? { authTime: v } : {};
}

function toGrant(code: string, doc: GrantDocument): GrantRecord {
  const resources = list(doc.resources);
  return {
    ...(resources ? { resources } : {}),
    ...withJkt(doc.dpopJkt),
    ...withAuthTime(doc.authTime),
    code,
    clientId: doc.clientId,
    userId: doc.userId,
    redirectUri: doc.redirectUri ?? null,
    scopes: [...doc.scopes],
    expiresAt: doc.expiresAt,
    grantId: doc.grantId,
    codeChallenge: doc.codeChallenge ?? null,
    codeChallengeMethod: doc.codeChallengeMethod ?? null,
  };
}

/**
 * Grant store over a model with the fields of `grantSchema`. A consumed code stays as a marker
 * (until its TTL removes it), so a second consume reports `replayed` (`detectsReplay: true`).
 */
export function createGrantStore<D extends GrantDocument = GrantDocument>(model: Model<D>): GrantStore {
  const grants = model as unknown as Model<GrantDocument>;
  return {
    detectsReplay: true,
    capabilities: { detectsReplay: true, ttlGranularity: 'ms' },
    saveGrant: (grant) =>
      run('saveGrant', async () => {
        await grants.create({
          key: lookupKey(grant.code),
          clientId: grant.clientId,
          userId: grant.userId,
          redirectUri: grant.redirectUri,
          scopes: [...grant.scopes],
          expiresAt: grant.expiresAt,
          grantId: grant.grantId,
          codeChallenge: grant.codeChallenge,
          codeChallengeMethod: grant.codeChallengeMethod,
          consumedAt: null,
          ...(grant.resources && grant.resources.length > 0 ? { resources: [...grant.resources] } : {}),
          ...withJkt(grant.dpopJkt),
          ...withAuthTime(grant.authTime),
        });
      }),
    consumeGrant: (clientId, code) =>
      run('consumeGrant', async (): Promise<Consumed<GrantRecord> | null> => {
        if (!isString(clientId) || !isString(code)) return null;
        const key = lookupKey(code);
        const now = new Date();
        // One atomic operation: of N concurrent callers exactly one sees `consumedAt: null`.
        const doc = await grants
          .findOneAndUpdate(
            { key: eq(key), clientId: eq(clientId), consumedAt: null, expiresAt: { $gt: now } },
            { $set: { consumedAt: now } },
            { returnDocument: 'before' },
          )
          .lean<GrantDocument>();
        if (doc) return { outcome: 'consumed', record: toGrant(code, doc) };
        const marker = await grants
          .findOne({ key: eq(key), clientId: eq(clientId), consumedAt: { $ne: null }, expiresAt: { $gt: now } })
          .lean<GrantDocument>();
        return marker ? { outcome: 'replayed', grantId: marker.grantId } : null;
      }),
  };
}

function toToken(token: string, doc: TokenDocument): AccessTokenRecord & RefreshTokenRecord {
  const record = {
    token,
    clientId: doc.clientId,
    userId: doc.userId ?? null,
    scopes: [...doc.scopes],
    expiresAt: doc.expiresAt,
    grantId: doc.grantId,
    ...withJkt(doc.dpopJkt),
    ...(doc.issuedAt instanceof Date ? { issuedAt: doc.issuedAt } : {}),
    // A refresh token's only: an access token has no authTime.
    ...(doc.kind === 'refresh' ? withAuthTime(doc.authTime) : {}),
  };
  // One field for both kinds: an access token's audience, a refresh token's resources.
  const values = list(doc.resources);
  if (!values) return record;
  return doc.kind === 'access' ? { ...record, audience: values } : { ...record, resources: values };
}

function tokenDocument(kind: TokenDocument['kind'], record: AccessTokenRecord | RefreshTokenRecord): TokenDocument {
  const values = kind === 'access' ? (record as AccessTokenRecord).audience : (record as RefreshTokenRecord).resources;
  return {
    ...(values && values.length > 0 ? { resources: [...values] } : {}),
    ...withJkt(record.dpopJkt),
    ...(record.issuedAt instanceof Date ? { issuedAt: new Date(record.issuedAt.getTime()) } : {}),
    ...(kind === 'refresh' ? withAuthTime((record as RefreshTokenRecord).authTime) : {}),
    key: lookupKey(record.token),
    kind,
    clientId: record.clientId,
    userId: record.userId,
    scopes: [...record.scopes],
    expiresAt: record.expiresAt,
    grantId: record.grantId,
    consumedAt: null,
    revokedAt: null,
  };
}

/**
 * Token store over a model with the fields of `tokenSchema`. Rotated refresh tokens stay as
 * markers (until their TTL removes them), so replays are reported (`detectsReplay: true`).
 */
export function createTokenStore<D extends TokenDocument = TokenDocument>(model: Model<D>): TokenStore {
  const tokens = model as unknown as Model<TokenDocument>;
  const find = async (kind: TokenDocument['kind'], token: unknown) => {
    if (!isString(token)) return null;
    const doc = await tokens
      .findOne({
        key: eq(lookupKey(token)),
        kind: eq(kind),
        consumedAt: null,
        revokedAt: null,
        expiresAt: { $gt: new Date() },
      })
      .lean<TokenDocument>();
    return doc ? toToken(token, doc) : null;
  };
  return {
    detectsReplay: true,
    capabilities: { detectsReplay: true, ttlGranularity: 'ms' },
    saveTokens: (access, refresh) =>
      run('saveTokens', async () => {
        const docs = [tokenDocument('access', access)];
        if (refresh) docs.push(tokenDocument('refresh', refresh));
        // Inserts only: the user's other tokens (other devices) are left alone. The documents
        // are complete and already of the schema's types, so they go to the collection as they
        // are (no document hydration, casting or validation per token).
        await tokens.collection.insertMany(docs, { ordered: true });
      }),
    getAccessToken: (token) => run('getAccessToken', () => find('access', token)),
    getRefreshToken: (token) => run('getRefreshToken', () => find('refresh', token)),
    consumeRefreshToken: (token) =>
      run('consumeRefreshToken', async (): Promise<Consumed<RefreshTokenRecord> | null> => {
        if (!isString(token)) return null;
        const key = lookupKey(token);
        const now = new Date();
        const doc = await tokens
          .findOneAndUpdate(
            { key: eq(key), kind: eq('refresh'), consumedAt: null, revokedAt: null, expiresAt: { $gt: now } },
            { $set: { consumedAt: now } },
            { returnDocument: 'before' },
          )
          .lean<TokenDocument>();
        if (doc) return { outcome: 'consumed', record: toToken(token, doc) };
        const marker = await tokens
          .findOne({ key: eq(key), kind: eq('refresh'), consumedAt: { $ne: null }, expiresAt: { $gt: now } })
          .lean<TokenDocument>();
        return marker ? { outcome: 'replayed', grantId: marker.grantId } : null;
      }),
    revokeAccessToken: (token) =>
      run('revokeAccessToken', async () => {
        if (!isString(token)) return;
        await tokens.deleteOne({ key: eq(lookupKey(token)), kind: eq('access') });
      }),
    revokeFamily: (grantId) =>
      run('revokeFamily', async () => {
        if (!isString(grantId)) return;
        // Marked rather than deleted, so rotated refresh tokens keep reporting replays.
        await tokens.updateMany({ grantId: eq(grantId), revokedAt: null }, { $set: { revokedAt: new Date() } });
      }),
  };
}

/**
 * Core's `UserGrantStore` over the token and grant models (a user's "connected apps").
 * `listUserGrants` reads the user's live token documents (unrevoked, unexpired, refresh tokens
 * also unconsumed) through the `(userId, clientId)` index and sums them up per client, in client
 * id order. `revokeUserGrants` marks every unrevoked token document of the user (for one client or
 * all) revoked, then deletes the user's unredeemed, unexpired codes for it; it counts the families
 * that had a live token and the codes deleted. `revokeClientGrants` (a client deleted through RFC
 * 7592) does the same for every token and code of one client, whatever the user (or none); there
 * is no index on `clientId` alone, so it scans the token collection (deletions are rare). Non-string
 * ids match nothing.
 */
export function createUserGrantStore<T extends TokenDocument = TokenDocument, G extends GrantDocument = GrantDocument>(
  tokenModel: Model<T>,
  grantModel: Model<G>,
): UserGrantStore {
  const tokens = tokenModel as unknown as Model<TokenDocument>;
  const grants = grantModel as unknown as Model<GrantDocument>;
  const live = (userId: string, clientId: string | null, now: Date) => ({
    userId: eq(userId),
    ...(clientId === null ? {} : { clientId: eq(clientId) }),
    revokedAt: null,
    expiresAt: { $gt: now },
    $or: [{ kind: eq('access') }, { consumedAt: null }],
  });
  return {
    listUserGrants: (userId) =>
      run('listUserGrants', async (): Promise<readonly UserGrantSummary[]> => {
        if (!isString(userId)) return [];
        const docs = await tokens
          .find(live(userId, null, new Date()), { _id: 0, clientId: 1, scopes: 1, grantId: 1, issuedAt: 1 })
          .lean<Pick<TokenDocument, 'clientId' | 'scopes' | 'grantId' | 'issuedAt'>[]>();
        const by = new Map<string, { scopes: Set<string>; families: Set<string>; first: number | null; last: number | null }>();
        for (const doc of docs) {
          let s = by.get(doc.clientId);
          if (!s) {
            s = { scopes: new Set(), families: new Set(), first: null, last: null };
            by.set(doc.clientId, s);
          }
          for (const scope of doc.scopes ?? []) s.scopes.add(scope);
          s.families.add(doc.grantId);
          if (doc.issuedAt instanceof Date) {
            const at = doc.issuedAt.getTime();
            s.first = s.first === null ? at : Math.min(s.first, at);
            s.last = s.last === null ? at : Math.max(s.last, at);
          }
        }
        return [...by]
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([clientId, s]) => ({
            clientId,
            scopes: [...s.scopes],
            firstIssuedAt: s.first === null ? null : new Date(s.first),
            lastIssuedAt: s.last === null ? null : new Date(s.last),
            grants: s.families.size,
          }));
      }),
    revokeUserGrants: (userId, clientId) =>
      run('revokeUserGrants', async () => {
        if (!isString(userId) || (clientId !== null && !isString(clientId))) return 0;
        const now = new Date();
        const families: string[] = await tokens.distinct('grantId', live(userId, clientId, now));
        const scope = { userId: eq(userId), ...(clientId === null ? {} : { clientId: eq(clientId) }) };
        // Marked rather than deleted, like revokeFamily: rotated refresh tokens keep reporting replays.
        await tokens.updateMany({ ...scope, revokedAt: null }, { $set: { revokedAt: now } });
        const codes = await grants.deleteMany({ ...scope, consumedAt: null, expiresAt: { $gt: now } });
        return families.length + codes.deletedCount;
      }),
    revokeClientGrants: (clientId) =>
      run('revokeClientGrants', async () => {
        if (!isString(clientId)) return 0;
        const now = new Date();
        const families: string[] = await tokens.distinct('grantId', {
          clientId: eq(clientId),
          revokedAt: null,
          expiresAt: { $gt: now },
          $or: [{ kind: eq('access') }, { consumedAt: null }],
        });
        await tokens.updateMany({ clientId: eq(clientId), revokedAt: null }, { $set: { revokedAt: now } });
        const codes = await grants.deleteMany({ clientId: eq(clientId), consumedAt: null, expiresAt: { $gt: now } });
        return families.length + codes.deletedCount;
      }),
  };
}

/**
 * Signing key store (JWT access tokens) over a model with the fields of `signingKeySchema`.
 * `addKey` is an upsert that only sets fields on insert (`$setOnInsert`), so an existing `kid` is
 * left as it was; the unique index on `kid` settles concurrent adds of one `kid`.
 */
export function createKeyStore<D extends SigningKeyDocument = SigningKeyDocument>(model: Model<D>): KeyStore {
  const keys = model as unknown as Model<SigningKeyDocument>;
  const toKey = (doc: SigningKeyDocument): SigningKeyRecord => ({
    kid: doc.kid,
    alg: doc.alg,
    // lean() documents are fresh objects per query: a caller changing one changes nothing stored.
    publicJwk: doc.publicJwk,
    privateKey: doc.privateKey,
    createdAt: doc.createdAt,
    activatesAt: doc.activatesAt,
    retiresAt: doc.retiresAt ?? null,
  });
  return {
    listKeys: () => run('listKeys', async () => (await keys.find({}, { _id: 0, __v: 0 }).lean<SigningKeyDocument[]>()).map(toKey)),
    addKey: (key) =>
      run('addKey', async () => {
        if (!isString(key.kid)) throw new TypeError('addKey: kid must be a string');
        const doc: SigningKeyDocument = {
          kid: key.kid,
          alg: key.alg,
          publicJwk: structuredClone({ ...key.publicJwk }),
          privateKey: key.privateKey,
          createdAt: new Date(key.createdAt.getTime()),
          activatesAt: new Date(key.activatesAt.getTime()),
          retiresAt: key.retiresAt === null ? null : new Date(key.retiresAt.getTime()),
        };
        // Through the driver: the document is complete and typed, and Mixed needs no casting.
        try {
          await keys.collection.updateOne({ kid: eq(key.kid) }, { $setOnInsert: doc }, { upsert: true });
        } catch (err) {
          // Two upserts of one kid at once: the loser meets the unique index, and the kid exists.
          if ((err as { code?: unknown }).code === 11000) return;
          throw err;
        }
      }),
    retireKey: (kid, retiresAt) =>
      run('retireKey', async () => {
        if (!isString(kid)) return;
        await keys.collection.updateOne({ kid: eq(kid) }, { $set: { retiresAt: new Date(retiresAt.getTime()) } });
      }),
    removeRetiredKeys: (before) =>
      run('removeRetiredKeys', async () => {
        // `$lt` on a Date never matches null (BSON type bracketing): unretired keys stay.
        const result = await keys.collection.deleteMany({ retiresAt: { $lt: new Date(before.getTime()) } });
        return result.deletedCount;
      }),
  };
}

/** Attempts of a poll's compare-and-set before giving up (each failed one means another caller changed the document). */
const POLL_ATTEMPTS = 200;

/**
 * Device request store (RFC 8628) over a model with the fields of `deviceCodeSchema`. Each change
 * is one `findOneAndUpdate` whose filter carries the condition, so of N concurrent callers exactly
 * one matches: a decision needs `status: 'pending'`, a consume `status: 'approved'` (both live);
 * a poll needs the `version` it read and reads again when another caller changed the document in
 * between (at most 200 times). Every change adds 1 to `version`. An approval's `authTime` is
 * `$set` by the same update (only when the approval carries one); every read gives it back.
 */
export function createDeviceCodeStore<D extends DeviceCodeDocument = DeviceCodeDocument>(model: Model<D>): DeviceCodeStore {
  const devices = (model as unknown as Model<DeviceCodeDocument>).collection;
  const toRecord = (d: DeviceCodeDocument): DeviceCodeRecord => ({
    deviceCode: d.deviceCode,
    userCode: d.userCode,
    clientId: d.clientId,
    scopes: [...(d.scopes ?? [])],
    expiresAt: new Date(d.expiresAt),
    interval: d.interval,
    lastPolledAt: d.lastPolledAt ? new Date(d.lastPolledAt) : null,
    status: d.status,
    userId: d.userId ?? null,
    grantId: d.grantId,
    ...withAuthTime(d.authTime),
  });
  const live = () => ({ $gt: new Date() });
  const byUserCode = async (userCode: string) =>
    isString(userCode) ? ((await devices.findOne({ activeUserCode: eq(userCode), expiresAt: live() })) as DeviceCodeDocument | null) : null;
  return {
    saveDeviceCode: (record) =>
      run('saveDeviceCode', async () => {
        if (!isString(record.userCode) || !isString(record.deviceCode)) throw new TypeError('saveDeviceCode: codes must be strings');
        // An expired request gives its user code up (it keeps `userCode`, so its polls still say expired).
        await devices.updateMany(
          { activeUserCode: eq(record.userCode), expiresAt: { $lte: new Date() } },
          { $unset: { activeUserCode: '' }, $inc: { version: 1 } },
        );
        const doc: DeviceCodeDocument = {
          ...toRecord(record as unknown as DeviceCodeDocument),
          scopes: [...record.scopes],
          activeUserCode: record.userCode,
          version: 0,
        };
        try {
          await devices.insertOne(doc as never);
        } catch (err) {
          if ((err as { code?: unknown }).code === 11000 && (await byUserCode(record.userCode)) !== null) return false;
          throw err;
        }
        return true;
      }),
    findDeviceCode: (userCode) =>
      run('findDeviceCode', async () => {
        const d = await byUserCode(userCode);
        return d ? toRecord(d) : null;
      }),
    recordPoll: (clientId, deviceCode, polledAt) =>
      run('recordPoll', async () => {
        if (!isString(clientId) || !isString(deviceCode)) return null;
        for (let attempt = 0; attempt < POLL_ATTEMPTS; attempt++) {
          const d = (await devices.findOne({ deviceCode: eq(deviceCode), clientId: eq(clientId) })) as DeviceCodeDocument | null;
          if (!d) return null;
          const before = toRecord(d);
          const last = before.lastPolledAt;
          const tooSoon = last !== null && polledAt.getTime() - last.getTime() < before.interval * 1000;
          const changed = await devices.updateOne(
            { deviceCode: eq(deviceCode), clientId: eq(clientId), version: d.version },
            {
              $set: { lastPolledAt: new Date(polledAt.getTime()), interval: tooSoon ? before.interval + 5 : before.interval },
              $inc: { version: 1 },
            },
          );
          if (changed.modifiedCount === 1) return before;
        }
        throw new Error(`recordPoll: the device request changed under ${POLL_ATTEMPTS} attempts in a row`);
      }),
    decideDeviceCode: (userCode, decision) =>
      run('decideDeviceCode', async () => {
        if (!isString(userCode)) return null;
        const change = decision.approved
          ? { status: 'approved', userId: decision.userId, scopes: [...decision.scopes], ...withAuthTime(decision.authTime) }
          : { status: 'denied', userId: decision.userId };
        const after = (await devices.findOneAndUpdate(
          { activeUserCode: eq(userCode), status: eq('pending'), expiresAt: live() },
          { $set: change, $inc: { version: 1 } },
          { returnDocument: 'after' },
        )) as DeviceCodeDocument | null;
        return after ? toRecord(after) : null;
      }),
    consumeDeviceCode: (clientId, deviceCode) =>
      run('consumeDeviceCode', async () => {
        if (!isString(clientId) || !isString(deviceCode)) return null;
        const before = (await devices.findOneAndUpdate(
          { deviceCode: eq(deviceCode), clientId: eq(clientId), status: eq('approved'), expiresAt: live() },
          { $set: { status: 'consumed' }, $inc: { version: 1 } },
          { returnDocument: 'before' },
        )) as DeviceCodeDocument | null;
        return before ? toRecord(before) : null;
      }),
  };
}

export { run as runStoreCall };
