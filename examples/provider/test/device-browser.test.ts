/**
 * The device flow end to end: the CLI demo client (`src/device-client.ts`, run as a child process
 * the way `pnpm device-demo` runs it) polls while headless Chromium (Debian's `chromium`, driven
 * by playwright-core, as in browser.test.ts) signs in on the `/device` page, checks the client and
 * scopes, and allows or denies.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEVICE_GRANT } from '../src/routes/device.js';
import { ALICE, type Started, startApp, TEST_SEED } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const TV_SECRET = 'tv-browser secret:%&+';
const SEED = {
  clients: [...TEST_SEED.clients, { id: 'tv-app', secret: TV_SECRET, grantTypes: [DEVICE_GRANT], scopes: ['read', 'write'] }],
  users: TEST_SEED.users,
};

let s: Started;
let context: BrowserContext;
let page: Page;
let profile: string;
const children: ChildProcess[] = [];

/** The CLI client as a child process: its output so far, the user code once printed, and its end. */
function deviceDemo(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'src/device-client.ts', ...args], {
    cwd: PACKAGE_DIR,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  let found: (v: { userCode: string; complete: string }) => void;
  const shown = new Promise<{ userCode: string; complete: string }>((resolve) => {
    found = resolve;
  });
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    const code = /enter the code: ([A-Z]{4}-[A-Z]{4})\n/.exec(stdout);
    const complete = /Or open: (\S+)\n/.exec(stdout);
    if (code && complete) found({ userCode: code[1]!, complete: complete[1]! });
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { shown, exited };
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install the Debian package "chromium" (apt-get install chromium)`);
  }
  s = await startApp({}, SEED);
  profile = await mkdtemp(join(tmpdir(), 'portcullis-chromium-device-'));
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
  page = context.pages()[0] ?? (await context.newPage());
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill();
  await context?.close();
  await s?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
});

describe('device flow: CLI client polling, Chromium on the /device page', () => {
  it('opens verification_uri_complete, signs in, allows; the CLI prints the token response', async () => {
    const cli = deviceDemo(['--issuer', s.app.url, '--scope', 'profile read', '--timeout', '50']);
    const { userCode, complete } = await cli.shown;
    expect(complete).toBe(`${s.app.issuer}/device?user_code=${userCode}`);
    await page.goto(complete);
    await page.waitForURL((u) => u.pathname === '/login');
    await page.fill('#username', ALICE.username);
    await page.fill('#password', ALICE.password);
    await page.click('#sign-in');
    await page.waitForURL((u) => u.pathname === '/device');
    expect(await page.inputValue('#user_code')).toBe(userCode);
    await page.click('#continue');
    await page.waitForSelector('#approve');
    expect(await page.textContent('.client-id')).toBe('demo-device');
    expect(await page.textContent('.user-code')).toBe(userCode);
    expect(await page.locator('ul.scopes code').allTextContents()).toEqual(['profile', 'read']);
    await page.click('#approve');
    await page.waitForSelector('#device-done');
    expect(await page.textContent('h1')).toBe('Device connected');

    const out = await cli.exited;
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const json = out.stdout.slice(out.stdout.indexOf('Token response:\n') + 'Token response:\n'.length);
    const tokens = JSON.parse(json) as Record<string, unknown>;
    expect(tokens).toMatchObject({ token_type: 'Bearer', scope: 'profile read' });
    const me = await fetch(`${s.app.url}/api/me`, { headers: { authorization: `Bearer ${tokens.access_token as string}` } });
    expect(await me.json()).toEqual({ sub: ALICE.subject, client_id: 'demo-device', scopes: ['profile', 'read'] });
  });

  it('types the code by hand (lower case, no dash), denies; the CLI (confidential client) reports access_denied', async () => {
    const cli = deviceDemo(['--issuer', s.app.url, '--client-id', 'tv-app', '--scope', 'write', '--timeout', '50'], {
      DEVICE_CLIENT_SECRET: TV_SECRET,
    });
    const { userCode } = await cli.shown;
    // Already signed in from the previous test: straight to the entry form.
    await page.goto(`${s.app.url}/device`);
    expect(await page.inputValue('#user_code')).toBe('');
    await page.fill('#user_code', 'nope-nope');
    await page.click('#continue');
    expect(await page.textContent('#device-error')).toContain('This code is not valid');
    await page.fill('#user_code', userCode.replace('-', '').toLowerCase());
    await page.click('#continue');
    await page.waitForSelector('#deny');
    expect(await page.textContent('.client-id')).toBe('tv-app');
    expect(await page.locator('ul.scopes code').allTextContents()).toEqual(['write']);
    await page.click('#deny');
    await page.waitForSelector('#device-done');
    expect(await page.textContent('h1')).toBe('Device denied');

    const out = await cli.exited;
    expect(out.code).toBe(1);
    expect(out.stdout).toContain('Device flow failed: access_denied');
    expect(out.stdout + out.stderr).not.toContain(TV_SECRET);
    expect(s.logs.join('\n')).not.toContain(TV_SECRET);
  });
});
