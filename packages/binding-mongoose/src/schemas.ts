import { type Connection, type Model, Schema } from 'mongoose';

/**
 * The default schemas. Each is exported so an application can extend it (`schema.add({...})`)
 * before building models, or pass models of its own that keep the same field names.
 *
 * Codes and tokens are never stored: `key` holds `lookupKey(value)`, a fixed-length SHA-256
 * digest, so any string works as a key and a leaked collection grants nothing.
 * Each `expiresAt` carries a TTL index for cleanup only; the stores filter on `expiresAt`
 * themselves and core re-checks it, so correctness never waits for the TTL monitor.
 */

/** A client document (default schema). `clientId` is the `client_id`. */
export interface ClientDocument {
  clientId: string;
  secretHash: string | null;
  redirectUris: string[];
  grantTypes: string[];
  scopes: string[];
  defaultScopes?: string[];
  tokenEndpointAuthMethod?: string;
  /**
   * `true` for a resource server, which may introspect tokens issued to any client (RFC 7662
   * section 4). Absent, `null` or `false`: only its own tokens.
   */
  resourceServer?: boolean | null;
  /** RFC 8707: the resources the client may ask tokens for. Absent: any; empty: none. */
  resources?: string[];
  /** RFC 9126 `require_pushed_authorization_requests`. */
  requirePushedAuthorizationRequests?: boolean;
  /** RFC 9449 `dpop_bound_access_tokens`. */
  dpopBoundAccessTokens?: boolean;
  /** `client_name`, shown on consent pages (RFC 7591 section 2). */
  name?: string;
  /** `client_uri`. */
  uri?: string;
  /** `logo_uri`. */
  logoUri?: string;
  /** When the secret stops working; `null`: never (as core gave it); absent: no such field. */
  clientSecretExpiresAt?: Date | null;
  /** What dynamic client registration (RFC 7591/7592) keeps of a self-registered client. */
  registration?: ClientRegistrationDocument;
}

/**
 * The `registration` subdocument of a self-registered client: the digest of the registration
 * access token (never the token), when the client id was issued, and the metadata echoed on reads.
 */
export interface ClientRegistrationDocument {
  accessTokenHash: string;
  issuedAt: Date;
  contacts?: string[];
  softwareId?: string;
  softwareVersion?: string;
  responseTypes: string[];
  /** When the client was first issued a token (`markClientUsed`); absent: never used (the purge may remove it). */
  firstUsedAt?: Date;
}

/** A user document (default schema). `userId` becomes `User.id`; `username` is the login name. */
export interface UserDocument {
  userId: string;
  username: string;
  passwordHash: string;
}

/** An authorization code document (default schema). `consumedAt` marks a spent code. */
export interface GrantDocument {
  key: string;
  clientId: string;
  userId: string;
  /** `null` when the authorization request left `redirect_uri` out. */
  redirectUri: string | null;
  scopes: string[];
  expiresAt: Date;
  grantId: string;
  codeChallenge: string | null;
  codeChallengeMethod: 'S256' | 'plain' | null;
  consumedAt: Date | null;
  /**
   * The resources (RFC 8707) the authorization request named; absent when it named none
   * (documents written before the field existed go without it too).
   */
  resources?: string[];
  /**
   * The DPoP key thumbprint (RFC 9449 `dpop_jkt`) the code is bound to; absent when it is not
   * bound (and in documents written before the field existed).
   */
  dpopJkt?: string;
  /**
   * When the user last authenticated (core's `authTime`, the `auth_time` of RFC 9068) for the
   * authorization this code carries; absent when not known (and in documents written before the
   * field existed).
   */
  authTime?: Date;
}

/** An access or refresh token document (default schema), told apart by `kind`. */
export interface TokenDocument {
  key: string;
  kind: 'access' | 'refresh';
  clientId: string;
  userId: string | null;
  scopes: string[];
  expiresAt: Date;
  grantId: string;
  /** Set when a refresh token is rotated; the document stays as a replay marker. */
  consumedAt: Date | null;
  /** Set by family revocation. */
  revokedAt: Date | null;
  /**
   * RFC 8707: an access token's audience, a refresh token's resources (those of its grant).
   * Absent when there are none (and in documents written before the field existed).
   */
  resources?: string[];
  /**
   * RFC 9449: the DPoP key thumbprint the token is bound to (`cnf.jkt`); absent for a bearer token
   * (and in documents written before the field existed).
   */
  dpopJkt?: string;
  /** When core issued the token; absent for tokens saved without it (and in older documents). */
  issuedAt?: Date;
  /**
   * A refresh token's `authTime` (the `auth_time` of RFC 9068): when the user authenticated for the
   * original grant. Never written on an access token; absent when not known (and in documents
   * written before the field existed).
   */
  authTime?: Date;
}

const nullableString = { type: String, default: null };
const nullableDate = { type: Date, default: null };
// `expires: 0` makes a TTL index that deletes a document once its `expiresAt` has passed.
const expiresAt = { type: Date, required: true, expires: 0 };

/** Clients: unique index on `clientId`. */
export const clientSchema = new Schema<ClientDocument>({
  clientId: { type: String, required: true, unique: true },
  secretHash: nullableString,
  redirectUris: { type: [String], default: [] },
  grantTypes: { type: [String], default: [] },
  scopes: { type: [String], default: [] },
  defaultScopes: { type: [String], default: undefined },
  tokenEndpointAuthMethod: { type: String, enum: ['client_secret_basic', 'client_secret_post', 'none'] },
  // No default: documents written before the field existed, and ordinary clients, go without it.
  resourceServer: { type: Boolean },
  // Dynamic client registration (RFC 7591/7592) and the fields it sets; each absent unless given
  // (documents written before they existed go without them).
  resources: { type: [String], default: undefined },
  requirePushedAuthorizationRequests: { type: Boolean },
  dpopBoundAccessTokens: { type: Boolean },
  name: { type: String },
  uri: { type: String },
  logoUri: { type: String },
  clientSecretExpiresAt: { type: Date },
  registration: {
    type: new Schema<ClientRegistrationDocument>(
      {
        accessTokenHash: { type: String, required: true },
        issuedAt: { type: Date, required: true },
        contacts: { type: [String], default: undefined },
        softwareId: { type: String },
        softwareVersion: { type: String },
        responseTypes: { type: [String], default: [] },
        firstUsedAt: { type: Date },
      },
      { _id: false },
    ),
  },
});

/** Users: unique indexes on `username` and `userId`. */
export const userSchema = new Schema<UserDocument>({
  userId: { type: String, required: true, unique: true },
  username: { type: String, required: true, unique: true },
  passwordHash: { type: String, required: true },
});

/**
 * Authorization codes: unique index on `(key, clientId)` (a code is looked up together with the
 * client presenting it), TTL index on `expiresAt`.
 */
export const grantSchema = new Schema<GrantDocument>({
  key: { type: String, required: true },
  clientId: { type: String, required: true },
  userId: { type: String, required: true },
  // `null` (the authorization request left redirect_uri out) is a value; a missing field is not.
  redirectUri: {
    type: String,
    required(this: { redirectUri?: unknown }) {
      return this.redirectUri !== null;
    },
  },
  scopes: { type: [String], default: [] },
  expiresAt,
  grantId: { type: String, required: true },
  codeChallenge: nullableString,
  codeChallengeMethod: { type: String, enum: ['S256', 'plain', null], default: null },
  consumedAt: nullableDate,
  // No default: a grant that named no resource goes without the field, not with [].
  resources: { type: [String], default: undefined },
  // No default: an unbound code goes without the field, not with null.
  dpopJkt: { type: String },
  // No default: a code saved without it (not known) goes without the field, not with null.
  authTime: { type: Date },
});
grantSchema.index({ key: 1, clientId: 1 }, { unique: true });

/**
 * Access and refresh tokens: unique index on `(key, kind)`, index on `grantId` (family
 * revocation), index on `(userId, clientId)` (a user's grants), TTL index on `expiresAt`.
 */
export const tokenSchema = new Schema<TokenDocument>({
  key: { type: String, required: true },
  kind: { type: String, required: true, enum: ['access', 'refresh'] },
  clientId: { type: String, required: true },
  userId: nullableString,
  scopes: { type: [String], default: [] },
  expiresAt,
  grantId: { type: String, required: true, index: true },
  consumedAt: nullableDate,
  revokedAt: nullableDate,
  // No default: a token without audience or resources goes without the field, not with [].
  resources: { type: [String], default: undefined },
  // No default: a bearer token goes without the field, not with null.
  dpopJkt: { type: String },
  // No default: a token saved without it goes without the field.
  issuedAt: { type: Date },
  // No default: only a refresh token saved with it holds the field, not null.
  authTime: { type: Date },
});
tokenSchema.index({ key: 1, kind: 1 }, { unique: true });
// A user's tokens per client: `listUserGrants` and `revokeUserGrants`.
tokenSchema.index({ userId: 1, clientId: 1 });

/** A signing key of JWT access tokens (default schema): core's `SigningKeyRecord` as is. */
export interface SigningKeyDocument {
  kid: string;
  alg: 'ES256' | 'EdDSA' | 'RS256';
  /** The public JWK as published in the JWKS. */
  publicJwk: Record<string, unknown>;
  /** The private JWK as a compact JWE, encrypted by core; the plain key is never stored. */
  privateKey: string;
  createdAt: Date;
  activatesAt: Date;
  /** Set when a newer key takes over; `null` while this is the newest. */
  retiresAt: Date | null;
}

/**
 * Signing keys: unique index on `kid`. No TTL: a retired key is removed by core's
 * `removeRetiredKeys`, once no token it signed can still be live.
 */
export const signingKeySchema = new Schema<SigningKeyDocument>(
  {
    kid: { type: String, required: true, unique: true },
    alg: { type: String, required: true, enum: ['ES256', 'EdDSA', 'RS256'] },
    publicJwk: { type: Schema.Types.Mixed, required: true },
    privateKey: { type: String, required: true },
    createdAt: { type: Date, required: true },
    activatesAt: { type: Date, required: true },
    retiresAt: nullableDate,
  },
  { minimize: false },
);

/** A device authorization request (RFC 8628), default schema: core's `DeviceCodeRecord` plus two fields. */
export interface DeviceCodeDocument {
  deviceCode: string;
  userCode: string;
  /** `userCode` while the request may hold it; unset once a new request takes an expired one's code. */
  activeUserCode?: string;
  clientId: string;
  scopes: string[];
  expiresAt: Date;
  interval: number;
  lastPolledAt: Date | null;
  status: 'pending' | 'approved' | 'denied' | 'consumed';
  userId: string | null;
  grantId: string;
  /**
   * Set by an approval that carried it (core's `DeviceDecision.authTime`, the `auth_time` of RFC
   * 9068); absent while pending, after a denial, for an approval without it (and in documents
   * written before the field existed).
   */
  authTime?: Date;
  /** Grows on every change: a poll writes only over the version it read. */
  version: number;
}

/**
 * Device requests: unique index on `deviceCode`, unique sparse index on `activeUserCode` (two live
 * requests never share a user code), TTL index on `expiresAt` that keeps an expired request 10
 * minutes, so late polls are told `expired_token`.
 */
export const deviceCodeSchema = new Schema<DeviceCodeDocument>({
  deviceCode: { type: String, required: true, unique: true },
  userCode: { type: String, required: true },
  activeUserCode: { type: String, unique: true, sparse: true },
  clientId: { type: String, required: true },
  scopes: { type: [String], default: [] },
  expiresAt: { type: Date, required: true, expires: 600 },
  interval: { type: Number, required: true },
  lastPolledAt: nullableDate,
  status: { type: String, required: true, enum: ['pending', 'approved', 'denied', 'consumed'] },
  userId: nullableString,
  grantId: { type: String, required: true },
  // No default: only an approval that carried it sets the field.
  authTime: { type: Date },
  version: { type: Number, required: true, default: 0 },
});

/**
 * A record of core's `EphemeralStore` (default schema): pushed authorization requests (RFC 9126)
 * and DPoP proof ids (RFC 9449). The key is the `_id`, so the collection's own unique index
 * settles concurrent adds.
 */
export interface EphemeralDocument {
  _id: string;
  value: string;
  expiresAt: Date;
}

/** Ephemeral records: `_id` is the key; TTL index on `expiresAt` (cleanup only: the store filters on it). */
export const ephemeralSchema = new Schema<EphemeralDocument>(
  {
    _id: { type: String, required: true },
    // Not required: '' is a value (a required string refuses it).
    value: { type: String, default: '' },
    expiresAt,
  },
  { versionKey: false },
);

/** The default models: the four stores', the signing keys' of JWT access tokens and the device requests'. */
export interface PortcullisModels {
  client: Model<ClientDocument>;
  user: Model<UserDocument>;
  grant: Model<GrantDocument>;
  token: Model<TokenDocument>;
  key: Model<SigningKeyDocument>;
  device: Model<DeviceCodeDocument>;
  /** Core's ephemeral store: pushed authorization requests, DPoP proof ids. */
  ephemeral: Model<EphemeralDocument>;
}

/** Options of `defineModels`. */
export interface DefineModelsOptions {
  /** Prefix of the collection (and model) names. Default `oauth_`: `oauth_clients`, ... */
  collectionPrefix?: string;
}

function modelOn<D>(connection: Connection, name: string, schema: Schema<D>, collection: string): Model<D> {
  const existing = connection.models[name];
  return (existing as Model<D> | undefined) ?? connection.model<D>(name, schema, collection);
}

/**
 * Builds (or returns, when already built with the same prefix) the default models on a
 * connection. Called once at startup. Mongoose creates their indexes when `autoIndex` is on
 * (the default); otherwise call `createIndexes()` on each model.
 */
export function defineModels(connection: Connection, options: DefineModelsOptions = {}): PortcullisModels {
  const prefix = options.collectionPrefix ?? 'oauth_';
  return {
    client: modelOn(connection, `${prefix}Client`, clientSchema, `${prefix}clients`),
    user: modelOn(connection, `${prefix}User`, userSchema, `${prefix}users`),
    grant: modelOn(connection, `${prefix}Grant`, grantSchema, `${prefix}grants`),
    token: modelOn(connection, `${prefix}Token`, tokenSchema, `${prefix}tokens`),
    key: modelOn(connection, `${prefix}SigningKey`, signingKeySchema, `${prefix}signing_keys`),
    device: modelOn(connection, `${prefix}DeviceCode`, deviceCodeSchema, `${prefix}device_codes`),
    ephemeral: modelOn(connection, `${prefix}Ephemeral`, ephemeralSchema, `${prefix}ephemeral`),
  };
}

/** Options of `purgeExpired`. */
export interface PurgeOptions {
  /** Documents deleted per statement. Default 1000. */
  batchSize?: number;
  /** Documents whose `expiresAt` is at or before this are deleted. Default: now. */
  now?: Date;
}

/**
 * Deletes expired grants, tokens and ephemeral records (consumed markers and revoked tokens included, once past
 * `expiresAt`) in batches of `batchSize`: what the TTL indexes do, for deployments where the TTL
 * monitor is off, lags, or is missing (some MongoDB-compatible servers), or to purge at a time of
 * your choosing. Returns how many documents were deleted.
 */
export async function purgeExpired(
  models: Partial<Pick<PortcullisModels, 'grant' | 'token' | 'ephemeral'>>,
  options: PurgeOptions = {},
): Promise<number> {
  const batchSize = options.batchSize ?? 1000;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('purgeExpired: batchSize must be a positive integer');
  const now = options.now ?? new Date();
  let total = 0;
  for (const model of [models.grant, models.token, models.ephemeral] as unknown as (Model<{ expiresAt: Date }> | undefined)[]) {
    if (!model) continue;
    const expired = { expiresAt: { $lte: now } };
    for (;;) {
      const ids = (await model.find(expired, { _id: 1 }).limit(batchSize).lean()).map((d) => d._id);
      if (ids.length === 0) break;
      total += (await model.deleteMany({ _id: { $in: ids }, ...expired })).deletedCount;
      if (ids.length < batchSize) break;
    }
  }
  return total;
}
