/**
 * Client and user management for the example provider:
 *   pnpm --filter @portcullis/example-provider cli clients add|list|remove ...
 *   pnpm --filter @portcullis/example-provider cli users add ...
 *   pnpm --filter @portcullis/example-provider cli seed <file>
 * It works on the database DATABASE_URL names (default: the SQLite file the app uses).
 * Generated secrets and passwords are printed once; only their hashes are stored.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  type Client,
  type ClientAuthMethod,
  type GrantType,
  generateClientSecret,
  hashPassword,
  hashSecret,
  OAuth2Provider,
  type StoreRegistry,
} from '@portcullis/core';
import { ConfigError, parseConfig, parseDatabaseUrl } from './config.js';
import { jwtOptions } from './provider-setup.js';
import { applySeed, checkRedirectUri, checkScopes, loadSeedFile, SeedError } from './seed.js';
import { openStorage, type Storage } from './storage.js';

const USAGE = `Usage: pnpm --filter @portcullis/example-provider cli <command>

  clients add <id> [--redirect-uri <uri>]... [--grant <type>]... [--scope <scope>]...
                   [--default-scope <scope>]... [--public] [--auth-method client_secret_basic|client_secret_post]
                   [--resource-server] [--replace]
      Registers a client. A confidential client gets a generated secret, printed once.
      Defaults: grants authorization_code + refresh_token with a redirect URI, else
      client_credentials; scope "read". --resource-server lets the client introspect tokens
      issued to other clients (RFC 7662 section 4). --replace overwrites a client (and its secret).
  clients list [--json]
  clients remove <id>
      Removes a client and revokes its tokens.
  users add <username> [--subject <id>] [--password-stdin] [--replace]
      Creates a user. The password is read from stdin with --password-stdin, otherwise
      generated and printed once. --replace sets a new password for an existing user.
  grants list --user <id> [--json]
      The applications a user (by subject) has live tokens with: scopes, last use.
  grants revoke --user <id> [--client <id>]
      Revokes the user's tokens and unredeemed codes for one client (or all), and with
      STATE_STORE=shared forgets the consents the app remembered for them.
  seed <file>
      Applies a seed file (see README), like the app does at start with SEED_FILE.
  keys rotate [--json]
      Rotates the signing key of JWT access tokens without a restart: a new key is published at
      once and signs after KEY_ROTATION_LEAD_TIME, when the current key retires (it stays
      published while tokens it signed live). Needs the app's KEY_ENCRYPTION_KEY (and its
      KEY_CACHE_TTL and KEY_ROTATION_LEAD_TIME, when set). Not with DATABASE_DRIVER=drizzle.

DATABASE_URL selects the database (default: sqlite file examples/provider/.data/portcullis.sqlite).
`;

class UsageError extends Error {}

const GRANTS: readonly string[] = ['authorization_code', 'refresh_token', 'client_credentials', 'password', 'implicit'];

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

async function clientsAdd(storage: Storage, args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      'redirect-uri': { type: 'string', multiple: true },
      grant: { type: 'string', multiple: true },
      scope: { type: 'string', multiple: true },
      'default-scope': { type: 'string', multiple: true },
      public: { type: 'boolean' },
      'auth-method': { type: 'string' },
      'resource-server': { type: 'boolean' },
      replace: { type: 'boolean' },
    },
  });
  const id = positionals[0];
  if (!id || positionals.length > 1) throw new UsageError('clients add needs exactly one client id');
  const redirectUris = values['redirect-uri'] ?? [];
  for (const uri of redirectUris) checkRedirectUri(uri, '--redirect-uri');
  const grants = values.grant ?? (redirectUris.length > 0 ? ['authorization_code', 'refresh_token'] : ['client_credentials']);
  for (const g of grants) if (!GRANTS.includes(g)) throw new UsageError(`unknown grant type "${g}"; valid: ${GRANTS.join(', ')}`);
  if (redirectUris.length === 0 && (grants.includes('authorization_code') || grants.includes('implicit'))) {
    throw new UsageError('a client using the authorization code or implicit grant needs --redirect-uri');
  }
  const scopes = values.scope ?? ['read'];
  checkScopes(scopes, '--scope');
  const defaultScopes = values['default-scope'];
  if (defaultScopes) {
    checkScopes(defaultScopes, '--default-scope');
    for (const s of defaultScopes) if (!scopes.includes(s)) throw new UsageError(`--default-scope "${s}" is not one of the --scope values`);
  }
  const isPublic = values.public === true;
  const method = values['auth-method'];
  if (method !== undefined && method !== 'client_secret_basic' && method !== 'client_secret_post') {
    throw new UsageError('--auth-method must be client_secret_basic or client_secret_post');
  }
  if (isPublic && method !== undefined) throw new UsageError('--public clients have no secret: leave out --auth-method');
  const resourceServer = values['resource-server'] === true;
  if (isPublic && resourceServer) throw new UsageError('--public clients may not introspect tokens: leave out --resource-server');
  const exists = (await storage.clients.getClient(id)) !== null;
  if (exists && !values.replace) throw new UsageError(`client "${id}" exists; use --replace to overwrite it (and its secret)`);

  const secret = isPublic ? null : generateClientSecret();
  const client: Client = {
    id,
    secretHash: secret === null ? null : hashSecret(secret),
    redirectUris,
    grantTypes: grants as GrantType[],
    scopes,
    ...(defaultScopes ? { defaultScopes } : {}),
    ...(resourceServer ? { resourceServer: true } : {}),
    // Named only when asked for: core then holds the client to it; unnamed, either secret method works.
    ...(isPublic ? { tokenEndpointAuthMethod: 'none' as const } : method ? { tokenEndpointAuthMethod: method as ClientAuthMethod } : {}),
  };
  const result = await storage.putClient(client);
  process.stdout.write(
    `Client "${id}" ${result} (${isPublic ? 'public' : resourceServer ? 'confidential, resource server' : 'confidential'}).\n`,
  );
  if (secret !== null) {
    process.stdout.write(`client_secret: ${secret}\n`);
    process.stdout.write('Store it now: it is shown this once, and only its hash is kept.\n');
  }
}

async function clientsList(storage: Storage, args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' } } });
  const clients = await storage.listClients();
  // Never the secret hash: listing says only whether there is a secret.
  const rows = clients.map((c) => ({
    id: c.id,
    type: c.secretHash === null ? 'public' : 'confidential',
    tokenEndpointAuthMethod: c.tokenEndpointAuthMethod ?? (c.secretHash === null ? 'none' : 'client_secret_basic'),
    grantTypes: c.grantTypes,
    scopes: c.scopes,
    redirectUris: c.redirectUris,
    resourceServer: c.resourceServer === true,
  }));
  if (values.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  if (rows.length === 0) {
    process.stdout.write('No clients.\n');
    return;
  }
  for (const r of rows) {
    process.stdout.write(
      `${r.id}  (${r.type}, ${r.tokenEndpointAuthMethod}${r.resourceServer ? ', resource server' : ''})\n  grants: ${r.grantTypes.join(', ')}\n  scopes: ${r.scopes.join(' ')}\n` +
        (r.redirectUris.length ? `  redirect URIs: ${r.redirectUris.join(', ')}\n` : ''),
    );
  }
}

async function clientsRemove(storage: Storage, args: string[]): Promise<void> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const id = positionals[0];
  if (!id || positionals.length > 1) throw new UsageError('clients remove needs exactly one client id');
  if (!(await storage.removeClient(id))) throw new Error(`no client "${id}"`);
  process.stdout.write(`Client "${id}" removed; its tokens are revoked.\n`);
}

async function usersAdd(storage: Storage, args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { subject: { type: 'string' }, 'password-stdin': { type: 'boolean' }, replace: { type: 'boolean' } },
  });
  const username = positionals[0];
  if (!username || positionals.length > 1) throw new UsageError('users add needs exactly one username');
  const existing = await storage.users.getUserByUsername(username);
  if (existing && !values.replace) throw new UsageError(`user "${username}" exists; use --replace to set a new password`);
  const subject = values.subject ?? existing?.user.id ?? `u-${randomBytes(8).toString('hex')}`;
  let password: string;
  let generated = false;
  if (values['password-stdin']) {
    password = await readStdin();
    if (password.length < 8) throw new UsageError('the password must have at least 8 characters');
  } else {
    password = randomBytes(12).toString('base64url');
    generated = true;
  }
  const result = await storage.putUser({ username, subject, passwordHash: await hashPassword(password) });
  process.stdout.write(`User "${username}" ${result} (subject ${subject}).\n`);
  if (generated) {
    process.stdout.write(`password: ${password}\n`);
    process.stdout.write('Store it now: it is shown this once, and only its hash is kept.\n');
  }
}

/** The longest user or client id the grants commands take. */
const MAX_ID = 512;

/**
 * `--name value` as `--name=value` for the options that take an id: node's parseArgs refuses a
 * separate value that starts with `-` as ambiguous, and generated client ids (base64url) can.
 */
function joinIdValues(args: string[], names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (names.includes(a) && i + 1 < args.length) out.push(`${a}=${args[++i]}`);
    else out.push(a);
  }
  return out;
}

/** `--user` (required) and `--client` (optional) of the grants commands, checked. */
function grantArgs(args: string[], withClient: boolean): { user: string; client: string | null; json: boolean } {
  const { values, positionals } = parseArgs({
    args: joinIdValues(args, ['--user', '--client']),
    allowPositionals: true,
    options: { user: { type: 'string' }, ...(withClient ? { client: { type: 'string' } } : { json: { type: 'boolean' } }) },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${String(positionals[0]).slice(0, 50)}"`);
  const v = values as { user?: string; client?: string; json?: boolean };
  const check = (name: string, x: string | undefined) => {
    if (x === undefined) return;
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
    if (x === '' || x.length > MAX_ID || /[\u0000-\u001f\u007f]/.test(x)) {
      throw new UsageError(`--${name} must be 1 to ${MAX_ID} characters without control characters`);
    }
  };
  check('user', v.user);
  check('client', v.client);
  if (v.user === undefined) throw new UsageError('--user <id> is required');
  return { user: v.user, client: v.client ?? null, json: v.json === true };
}

function needUserGrants(storage: Storage) {
  return storage.userGrants;
}

async function grantsList(storage: Storage, args: string[]): Promise<void> {
  const { user, json } = grantArgs(args, false);
  const list = await needUserGrants(storage).listUserGrants(user);
  const rows = list.map((g) => ({
    clientId: g.clientId,
    scopes: [...g.scopes],
    grants: g.grants,
    firstIssuedAt: g.firstIssuedAt?.toISOString() ?? null,
    lastIssuedAt: g.lastIssuedAt?.toISOString() ?? null,
  }));
  if (json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  if (rows.length === 0) {
    process.stdout.write(`No connected apps for user ${JSON.stringify(user)}.\n`);
    return;
  }
  for (const r of rows) {
    process.stdout.write(
      `${JSON.stringify(r.clientId)}  scopes: ${r.scopes.join(' ') || '(none)'}  grants: ${r.grants}  last used: ${r.lastIssuedAt ?? 'unknown'}\n`,
    );
  }
}

async function grantsRevoke(storage: Storage, args: string[]): Promise<void> {
  const { user, client } = grantArgs(args, true);
  const store = needUserGrants(storage);
  const clients = client !== null ? [client] : (await store.listUserGrants(user)).map((g) => g.clientId);
  const n = await store.revokeUserGrants(user, client);
  let forgotten = 'remembered consents in STATE_STORE=memory processes last until they restart';
  if (process.env.STATE_STORE?.trim().toLowerCase() === 'shared' && clients.length > 0) {
    const { openState } = await import('./state/open.js');
    const state = await openState(parseConfig(process.env), storage);
    try {
      for (const c of clients) await state.consents.forget(user, c);
    } finally {
      await state.close();
    }
    forgotten = 'remembered consents forgotten';
  }
  process.stdout.write(
    `Revoked ${n} grant${n === 1 ? '' : 's'} of user ${JSON.stringify(user)}${client !== null ? ` for client ${JSON.stringify(client)}` : ''}; ${forgotten}.\n`,
  );
}

/**
 * `keys rotate`: core's rotation (`rotateSigningKey`) on the database's key store, through a
 * provider with the app's JWT settings; the running processes pick it up within KEY_CACHE_TTL.
 */
async function keysRotate(storage: Storage, args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' } } });
  if (positionals.length > 0) throw new UsageError('keys rotate takes no arguments');
  const config = parseConfig(process.env);
  if (!config.keyEncryptionKey) {
    throw new ConfigError('keys rotate needs KEY_ENCRYPTION_KEY, the one the app runs with (it encrypts the new private key)');
  }
  const provider = new OAuth2Provider({
    issuer: config.issuer ?? `http://${config.host}:${config.port}`,
    accessTokenFormat: 'jwt',
    jwt: jwtOptions(config, config.keyEncryptionKey.reveal()),
  });
  let keyStore = false;
  const registry: StoreRegistry = {
    useStores(stores, options) {
      if (stores.keys) keyStore = true;
      provider.useStores(stores, options);
      return this;
    },
    setCurrentUser(fn, options) {
      provider.setCurrentUser(fn, options);
      return this;
    },
  };
  storage.bind(registry, { currentUser: async () => null, withGrants: true });
  if (!keyStore) {
    throw new ConfigError('keys rotate: this storage keeps no signing keys (with DATABASE_DRIVER=drizzle each process keeps its own)');
  }
  const { kid, activatesAt } = await provider.rotateSigningKey();
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ kid, activatesAt: activatesAt.toISOString() })}\n`);
    return;
  }
  process.stdout.write(
    `New signing key ${kid}: published now, signs from ${activatesAt.toISOString()}; the current key retires then and stays published while its tokens live.\n`,
  );
}

async function run(argv: string[]): Promise<void> {
  const [group, action, ...rest] = argv;
  if (group === undefined || group === '--help' || group === '-h' || group === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const commands: Record<string, (s: Storage, a: string[]) => Promise<void>> = {
    'clients add': clientsAdd,
    'clients list': clientsList,
    'clients remove': clientsRemove,
    'users add': usersAdd,
    'grants list': grantsList,
    'grants revoke': grantsRevoke,
    'keys rotate': keysRotate,
  };
  let command: ((s: Storage) => Promise<void>) | undefined;
  if (group === 'seed') {
    if (!action || rest.length > 0) throw new UsageError('seed needs exactly one file');
    const seed = await loadSeedFile(action);
    command = async (s) => {
      const n = await applySeed(s, seed);
      process.stdout.write(`Seed applied: ${n.clients} clients, ${n.users} users.\n`);
    };
  } else {
    const fn = commands[`${group} ${action ?? ''}`];
    if (fn) command = (s) => fn(s, rest);
  }
  if (!command) throw new UsageError(`unknown command "${argv.join(' ')}"`);
  const storage = await openStorage(parseDatabaseUrl(process.env.DATABASE_URL?.trim() || undefined));
  try {
    await command(storage);
  } finally {
    await storage.close();
  }
}

run(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    const e = err as Error & { code?: unknown };
    if (err instanceof UsageError || (typeof e?.code === 'string' && e.code.startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`Error: ${e.message}\n\n${USAGE}`);
      process.exit(2);
    }
    const known = err instanceof ConfigError || err instanceof SeedError;
    process.stderr.write(`Error: ${known ? e.message : `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`}\n`);
    process.exit(1);
  },
);
