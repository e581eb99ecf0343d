import { readFile } from 'node:fs/promises';
import { type Client, type ClientAuthMethod, type GrantType, hashPassword } from '@portcullis/core';
import type { Storage } from './storage.js';

/**
 * The seed file (README: "Seed file"): clients and users created or updated at every start.
 * Secrets and passwords written in it are stored only as scrypt hashes.
 */
export interface SeedFile {
  readonly clients: readonly SeedClient[];
  readonly users: readonly SeedUser[];
}

export interface SeedClient {
  readonly id: string;
  /** Exactly one of `secret`, `secretHash` or `public: true`. */
  readonly secret?: string;
  readonly secretHash?: string;
  readonly public?: boolean;
  readonly redirectUris: readonly string[];
  readonly grantTypes: readonly GrantType[];
  readonly tokenEndpointAuthMethod?: ClientAuthMethod;
  readonly scopes: readonly string[];
  readonly defaultScopes?: readonly string[];
  /** `true`: the client may introspect tokens issued to other clients (RFC 7662 section 4). */
  readonly resourceServer?: boolean;
}

export interface SeedUser {
  readonly username: string;
  /** Exactly one of `password` or `passwordHash`. */
  readonly password?: string;
  readonly passwordHash?: string;
  /** The user id (`sub`) recorded on tokens. */
  readonly subject: string;
}

/** A seed file that cannot be used; the message names the field, never a secret. */
export class SeedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SeedError';
  }
}

const GRANT_TYPES: readonly string[] = [
  'authorization_code',
  'refresh_token',
  'client_credentials',
  'password',
  'implicit',
  'urn:ietf:params:oauth:grant-type:device_code',
];
const AUTH_METHODS: readonly string[] = ['client_secret_basic', 'client_secret_post', 'none'];
/** RFC 6749 section 3.3 scope-token. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(o: Obj, key: string, where: string, optional = false): string | undefined {
  const v = o[key];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string' || v === '') throw new SeedError(`${where}.${key} must be a non-empty string`);
  return v;
}

function strings(o: Obj, key: string, where: string, optional = false): string[] | undefined {
  const v = o[key];
  if (v === undefined && optional) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x !== '')) {
    throw new SeedError(`${where}.${key} must be an array of non-empty strings`);
  }
  return v as string[];
}

function checkKeys(o: Obj, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new SeedError(`${where}: unknown field "${k}"`);
}

/** Checks that a redirect URI is absolute and has no fragment (RFC 6749 section 3.1.2). */
export function checkRedirectUri(uri: string, where: string): void {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw new SeedError(`${where}: "${uri}" is not an absolute URL`);
  }
  if (uri.includes('#') || u.hash) throw new SeedError(`${where}: "${uri}" must not have a fragment`);
}

/** Checks a list of scopes (RFC 6749 scope-tokens). */
export function checkScopes(scopes: readonly string[], where: string): void {
  for (const s of scopes) if (!SCOPE_TOKEN.test(s)) throw new SeedError(`${where}: "${s}" is not a valid scope`);
}

function parseClient(v: unknown, i: number): SeedClient {
  const where = `clients[${i}]`;
  if (!isObj(v)) throw new SeedError(`${where} must be an object`);
  checkKeys(
    v,
    [
      'id',
      'secret',
      'secretHash',
      'public',
      'redirectUris',
      'grantTypes',
      'tokenEndpointAuthMethod',
      'scopes',
      'defaultScopes',
      'resourceServer',
    ],
    where,
  );
  const id = str(v, 'id', where)!;
  const secret = str(v, 'secret', where, true);
  const secretHash = str(v, 'secretHash', where, true);
  if (v.public !== undefined && typeof v.public !== 'boolean') throw new SeedError(`${where}.public must be true or false`);
  const isPublic = v.public === true;
  const kinds = [secret !== undefined, secretHash !== undefined, isPublic].filter(Boolean).length;
  if (kinds !== 1) throw new SeedError(`${where} ("${id}") needs exactly one of "secret", "secretHash" or "public": true`);
  const grantTypes = strings(v, 'grantTypes', where)!;
  for (const g of grantTypes) if (!GRANT_TYPES.includes(g)) throw new SeedError(`${where}.grantTypes: unknown grant type "${g}"`);
  const redirectUris = strings(v, 'redirectUris', where, true) ?? [];
  for (const uri of redirectUris) checkRedirectUri(uri, `${where}.redirectUris`);
  if (redirectUris.length === 0 && (grantTypes.includes('authorization_code') || grantTypes.includes('implicit'))) {
    throw new SeedError(`${where} ("${id}") uses a browser flow and needs at least one redirect URI`);
  }
  const scopes = strings(v, 'scopes', where)!;
  checkScopes(scopes, `${where}.scopes`);
  const defaultScopes = strings(v, 'defaultScopes', where, true);
  if (defaultScopes) {
    checkScopes(defaultScopes, `${where}.defaultScopes`);
    for (const s of defaultScopes) if (!scopes.includes(s)) throw new SeedError(`${where}.defaultScopes: "${s}" is not in scopes`);
  }
  const method = str(v, 'tokenEndpointAuthMethod', where, true);
  if (method !== undefined && !AUTH_METHODS.includes(method)) {
    throw new SeedError(`${where}.tokenEndpointAuthMethod must be one of ${AUTH_METHODS.join(', ')}`);
  }
  if (isPublic && method !== undefined && method !== 'none') {
    throw new SeedError(`${where} ("${id}") is public: its tokenEndpointAuthMethod can only be "none"`);
  }
  if (!isPublic && method === 'none') throw new SeedError(`${where} ("${id}") has a secret: "none" is for public clients`);
  if (v.resourceServer !== undefined && typeof v.resourceServer !== 'boolean') {
    throw new SeedError(`${where}.resourceServer must be true or false`);
  }
  const resourceServer = v.resourceServer === true;
  if (isPublic && resourceServer) throw new SeedError(`${where} ("${id}") is public: public clients may not introspect tokens`);
  return {
    id,
    redirectUris,
    grantTypes: grantTypes as GrantType[],
    scopes,
    ...(secret !== undefined ? { secret } : {}),
    ...(secretHash !== undefined ? { secretHash } : {}),
    ...(isPublic ? { public: true } : {}),
    ...(method !== undefined ? { tokenEndpointAuthMethod: method as ClientAuthMethod } : {}),
    ...(defaultScopes ? { defaultScopes } : {}),
    ...(resourceServer ? { resourceServer: true } : {}),
  };
}

function parseUser(v: unknown, i: number): SeedUser {
  const where = `users[${i}]`;
  if (!isObj(v)) throw new SeedError(`${where} must be an object`);
  checkKeys(v, ['username', 'password', 'passwordHash', 'subject'], where);
  const username = str(v, 'username', where)!;
  const password = str(v, 'password', where, true);
  const passwordHash = str(v, 'passwordHash', where, true);
  if ((password === undefined) === (passwordHash === undefined)) {
    throw new SeedError(`${where} ("${username}") needs exactly one of "password" or "passwordHash"`);
  }
  const subject = str(v, 'subject', where)!;
  return {
    username,
    subject,
    ...(password !== undefined ? { password } : {}),
    ...(passwordHash !== undefined ? { passwordHash } : {}),
  };
}

/** Validates a parsed seed file. Throws `SeedError` naming the first bad field. */
export function parseSeed(data: unknown): SeedFile {
  if (!isObj(data)) throw new SeedError('the seed file must hold a JSON object');
  checkKeys(data, ['$comment', 'clients', 'users'], 'seed file');
  const clients = data.clients ?? [];
  const users = data.users ?? [];
  if (!Array.isArray(clients)) throw new SeedError('"clients" must be an array');
  if (!Array.isArray(users)) throw new SeedError('"users" must be an array');
  const parsed = { clients: clients.map(parseClient), users: users.map(parseUser) };
  const dup = (list: readonly string[]) => list.find((x, i) => list.indexOf(x) !== i);
  const d1 = dup(parsed.clients.map((c) => c.id));
  if (d1 !== undefined) throw new SeedError(`client "${d1}" appears twice`);
  const d2 = dup(parsed.users.map((u) => u.username));
  if (d2 !== undefined) throw new SeedError(`user "${d2}" appears twice`);
  return parsed;
}

/** Reads and validates a seed file. */
export async function loadSeedFile(path: string): Promise<SeedFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new SeedError(`cannot read the seed file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    // V8's message quotes the text around the error, which may be a secret: keep the position only.
    const at = /position (\d+)/.exec((err as Error).message)?.[1];
    throw new SeedError(`the seed file ${path} is not valid JSON${at ? ` (at position ${at})` : ''}`);
  }
  try {
    return parseSeed(data);
  } catch (err) {
    if (err instanceof SeedError) throw new SeedError(`${path}: ${err.message}`);
    throw err;
  }
}

/** The `Client` a seed entry describes (hashing a written secret with scrypt). */
export async function clientFromSeed(c: SeedClient): Promise<Client> {
  const secretHash = c.public ? null : (c.secretHash ?? (await hashPassword(c.secret!)));
  return {
    id: c.id,
    secretHash,
    redirectUris: c.redirectUris,
    grantTypes: c.grantTypes,
    scopes: c.scopes,
    ...(c.defaultScopes ? { defaultScopes: c.defaultScopes } : {}),
    ...(c.resourceServer ? { resourceServer: true } : {}),
    // Named only when the seed names it (core then holds the client to it), or `none` for a public client.
    ...(c.tokenEndpointAuthMethod
      ? { tokenEndpointAuthMethod: c.tokenEndpointAuthMethod }
      : c.public
        ? { tokenEndpointAuthMethod: 'none' as const }
        : {}),
  };
}

/** Creates or updates every client and user of the seed. */
export async function applySeed(storage: Storage, seed: SeedFile): Promise<{ clients: number; users: number }> {
  for (const c of seed.clients) await storage.putClient(await clientFromSeed(c));
  for (const u of seed.users) {
    const passwordHash = u.passwordHash ?? (await hashPassword(u.password!));
    await storage.putUser({ username: u.username, subject: u.subject, passwordHash });
  }
  return { clients: seed.clients.length, users: seed.users.length };
}
