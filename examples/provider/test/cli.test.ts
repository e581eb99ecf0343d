/** The CLI, run as a child process against a temporary SQLite file. */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifySecret } from '@portcullis/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { parseConfig } from '../src/config.js';
import { loadSeedFile, SeedError } from '../src/seed.js';
import { openStorage } from '../src/storage.js';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
let dir: string;
let databaseUrl: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-cli-'));
  databaseUrl = `sqlite:${join(dir, 'cli.sqlite')}`;
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `pnpm cli ...` the way package.json does (node + tsx on the source). */
function cli(args: string[], stdin?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', 'src/cli.ts', ...args],
      { cwd: PACKAGE_DIR, env: { ...process.env, DATABASE_URL: databaseUrl }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    child.stdin?.end(stdin ?? '');
  });
}

/** Every byte of the SQLite database (file and WAL), to check what is at rest. */
async function databaseBytes(): Promise<string> {
  const files = (await readdir(dir)).filter((f) => f.startsWith('cli.sqlite'));
  const parts = await Promise.all(files.map((f) => readFile(join(dir, f))));
  return Buffer.concat(parts).toString('latin1');
}

async function withStorage<T>(fn: (s: Awaited<ReturnType<typeof openStorage>>) => Promise<T>): Promise<T> {
  const storage = await openStorage({ kind: 'sqlite', storage: join(dir, 'cli.sqlite') });
  try {
    return await fn(storage);
  } finally {
    await storage.close();
  }
}

describe('cli', () => {
  let secret = '';

  it('adds a confidential client, prints its secret once, and stores only a hash', async () => {
    const r = await cli(['clients', 'add', 'reports', '--grant', 'client_credentials', '--scope', 'read', '--scope', 'admin']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const m = /^client_secret: (\S+)$/m.exec(r.stdout);
    expect(m).not.toBeNull();
    secret = m![1]!;
    expect(secret.length).toBeGreaterThanOrEqual(43);
    const client = await withStorage((s) => s.clients.getClient('reports'));
    expect(client).toMatchObject({ id: 'reports', grantTypes: ['client_credentials'], scopes: ['read', 'admin'] });
    expect(client!.secretHash).toMatch(/^sha256\$/);
    expect(await verifySecret(secret, client!.secretHash!)).toBe(true);
    expect(await databaseBytes()).not.toContain(secret);
  });

  it('lists clients without secrets or hashes', async () => {
    await cli(['clients', 'add', 'spa', '--public', '--redirect-uri', 'http://localhost:5173/cb']);
    const r = await cli(['clients', 'list', '--json']);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as Record<string, unknown>[];
    expect(list.map((c) => [c.id, c.type, c.tokenEndpointAuthMethod])).toEqual([
      ['reports', 'confidential', 'client_secret_basic'],
      ['spa', 'public', 'none'],
    ]);
    expect(list[1]).toMatchObject({ grantTypes: ['authorization_code', 'refresh_token'], redirectUris: ['http://localhost:5173/cb'] });
    expect(r.stdout).not.toContain('sha256$');
    expect(r.stdout).not.toContain(secret);
    const human = await cli(['clients', 'list']);
    expect(human.stdout).toContain('reports  (confidential, client_secret_basic)');
  });

  it('refuses to overwrite a client unless --replace, which issues a new secret', async () => {
    const again = await cli(['clients', 'add', 'reports', '--grant', 'client_credentials']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('exists');
    const replaced = await cli([
      'clients',
      'add',
      'reports',
      '--grant',
      'client_credentials',
      '--scope',
      'read',
      '--scope',
      'admin',
      '--replace',
    ]);
    expect(replaced.code).toBe(0);
    const next = /^client_secret: (\S+)$/m.exec(replaced.stdout)![1]!;
    expect(next).not.toBe(secret);
    const hash = (await withStorage((s) => s.clients.getClient('reports')))!.secretHash!;
    expect(await verifySecret(secret, hash)).toBe(false);
    expect(await verifySecret(next, hash)).toBe(true);
    secret = next;
  });

  it('adds users with a password from stdin or a generated one, storing only scrypt hashes', async () => {
    const fromStdin = await cli(['users', 'add', 'bob', '--subject', 'u-bob', '--password-stdin'], 'bob-passphrase-42\n');
    expect(fromStdin.code).toBe(0);
    expect(fromStdin.stdout).not.toContain('bob-passphrase-42');
    const generated = await cli(['users', 'add', 'carol']);
    expect(generated.code).toBe(0);
    const password = /^password: (\S+)$/m.exec(generated.stdout)![1]!;
    await withStorage(async (s) => {
      const bob = await s.users.getUserByUsername('bob');
      expect(bob!.user.id).toBe('u-bob');
      expect(bob!.passwordHash).toMatch(/^scrypt\$/);
      expect(await verifySecret('bob-passphrase-42', bob!.passwordHash)).toBe(true);
      const carol = await s.users.getUserByUsername('carol');
      expect(await verifySecret(password, carol!.passwordHash)).toBe(true);
    });
    const bytes = await databaseBytes();
    expect(bytes).not.toContain('bob-passphrase-42');
    expect(bytes).not.toContain(password);
    expect((await cli(['users', 'add', 'bob'])).code).toBe(2);
    expect((await cli(['users', 'add', 'bob', '--password-stdin', '--replace'], 'short')).code).toBe(2);
  });

  it('made a client and a user the app accepts', async () => {
    const logs: string[] = [];
    const app = await createApp(parseConfig({ PORT: '0', DATABASE_URL: databaseUrl, DEMO: '0' }, [], dir), { log: (l) => logs.push(l) });
    try {
      const r = await fetch(`${app.url}/oauth/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`reports:${secret}`).toString('base64')}`,
        },
        body: 'grant_type=client_credentials&scope=admin',
      });
      expect(r.status).toBe(200);
      const token = ((await r.json()) as { access_token: string }).access_token;
      const admin = await fetch(`${app.url}/api/admin`, { headers: { authorization: `Bearer ${token}` } });
      expect(admin.status).toBe(200);
      expect(await verifySecret('bob-passphrase-42', (await app.storage.users.getUserByUsername('bob'))!.passwordHash)).toBe(true);
    } finally {
      await app.close();
    }
  });

  it('removes a client and revokes its tokens', async () => {
    const app = await createApp(parseConfig({ PORT: '0', DATABASE_URL: databaseUrl, DEMO: '0' }, [], dir), { log: () => {} });
    try {
      // Basic credentials (form-encoded per RFC 6749 2.3.1; a generated secret needs no escaping).
      const r = await fetch(`${app.url}/oauth/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`reports:${secret}`).toString('base64')}`,
        },
        body: 'grant_type=client_credentials',
      });
      expect(r.status).toBe(200);
      const token = ((await r.json()) as { access_token: string }).access_token;
      expect((await fetch(`${app.url}/api/me`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      const removed = await cli(['clients', 'remove', 'reports']);
      expect(removed.code).toBe(0);
      expect((await fetch(`${app.url}/api/me`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    } finally {
      await app.close();
    }
    expect((await cli(['clients', 'remove', 'reports'])).code).toBe(1);
    const list = JSON.parse((await cli(['clients', 'list', '--json'])).stdout) as { id: string }[];
    expect(list.map((c) => c.id)).toEqual(['spa']);
  });

  it('applies a seed file', async () => {
    const file = join(dir, 'seed.json');
    await writeFile(
      file,
      JSON.stringify({
        clients: [{ id: 'seeded', secret: 'seeded secret value', grantTypes: ['client_credentials'], scopes: ['read'] }],
        users: [{ username: 'dave', password: 'dave passphrase', subject: 'u-dave' }],
      }),
    );
    const r = await cli(['seed', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('1 clients, 1 users');
    expect(await databaseBytes()).not.toContain('seeded secret value');
  });

  it("adds resource servers (--resource-server, or resourceServer in a seed file) that may introspect other clients' tokens", async () => {
    const added = await cli(['clients', 'add', 'gateway', '--grant', 'client_credentials', '--resource-server']);
    expect(added.code).toBe(0);
    expect(added.stdout).toContain('(confidential, resource server)');
    const gatewaySecret = /^client_secret: (\S+)$/m.exec(added.stdout)![1]!;
    const file = join(dir, 'seed-rs.json');
    await writeFile(
      file,
      JSON.stringify({
        clients: [
          { id: 'gateway-2', secret: 'gateway two secret', grantTypes: ['client_credentials'], scopes: ['read'], resourceServer: true },
        ],
      }),
    );
    expect((await cli(['seed', file])).code).toBe(0);
    const list = JSON.parse((await cli(['clients', 'list', '--json'])).stdout) as { id: string; resourceServer: boolean }[];
    expect(Object.fromEntries(list.map((c) => [c.id, c.resourceServer]))).toEqual({
      gateway: true,
      'gateway-2': true,
      seeded: false,
      spa: false,
    });
    expect((await cli(['clients', 'add', 'x', '--public', '--redirect-uri', 'https://a.example/cb', '--resource-server'])).code).toBe(2);

    const app = await createApp(parseConfig({ PORT: '0', DATABASE_URL: databaseUrl, DEMO: '0' }, [], dir), { log: () => {} });
    const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
    const post = async (path: string, auth: string, body: string) => {
      const r = await fetch(`${app.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth },
        body,
      });
      return (await r.json()) as Record<string, unknown>;
    };
    try {
      const seededToken = (await post('/oauth/token', basic('seeded', 'seeded secret value'), 'grant_type=client_credentials'))
        .access_token as string;
      const gatewayToken = (await post('/oauth/token', basic('gateway', gatewaySecret), 'grant_type=client_credentials'))
        .access_token as string;
      // Resource servers see another client's token; an ordinary client does not.
      for (const [id, secret] of [
        ['gateway', gatewaySecret],
        ['gateway-2', 'gateway two secret'],
      ] as const) {
        expect(await post('/oauth/introspect', basic(id, secret), `token=${seededToken}`)).toMatchObject({
          active: true,
          client_id: 'seeded',
        });
      }
      expect(await post('/oauth/introspect', basic('seeded', 'seeded secret value'), `token=${gatewayToken}`)).toEqual({ active: false });
    } finally {
      await app.close();
    }
  });

  it('reports a broken seed file without quoting it', async () => {
    const file = join(dir, 'broken.json');
    await writeFile(file, '{"clients": [{"id": "x", "secret": "LEAKY-SECRET-9" oops}]}');
    await expect(loadSeedFile(file)).rejects.toThrow(SeedError);
    await expect(loadSeedFile(file)).rejects.not.toThrow(/LEAKY/);
    const r = await cli(['seed', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('not valid JSON');
    expect(r.stderr).not.toContain('LEAKY');
  });

  it('prints usage for unknown commands and options (exit 2)', async () => {
    const r = await cli(['clients', 'frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Usage:');
    expect((await cli(['clients', 'add', 'x', '--bogus'])).code).toBe(2);
    expect((await cli(['clients', 'add', 'x', '--grant', 'authorization_code'])).code).toBe(2);
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('clients add');
  });
});
