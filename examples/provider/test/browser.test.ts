/**
 * The demo client in a real browser: headless Chromium from Debian (package `chromium`) driven by
 * playwright-core. Clicks "Sign in with Portcullis", signs in, answers the consent page, and
 * reads what the demo client shows after its callback.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_SUBJECT } from '../src/app.js';
import { type Started, startApp } from './helpers.js';

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

let s: Started;
let context: BrowserContext;
let page: Page;
let profile: string;
const cspViolations: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install the Debian package "chromium" (apt-get install chromium)`);
  }
  s = await startApp();
  profile = await mkdtemp(join(tmpdir(), 'portcullis-chromium-'));
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
});

afterAll(async () => {
  await context?.close();
  await s?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
});

describe('demo client in headless Chromium', () => {
  it('signs in, approves, and shows the tokens and the /api/me answer', async () => {
    const demoUser = s.app.demoUser!;
    expect(demoUser.password).toBeTypeOf('string');
    await page.goto(`${s.app.url}/demo`);
    await page.click('#sign-in-with-portcullis');
    await page.waitForURL((u) => u.pathname === '/login');
    await page.fill('#username', demoUser.username);
    await page.fill('#password', demoUser.password!);
    await page.click('#sign-in');
    await page.waitForURL((u) => u.pathname === '/oauth/authorize');
    expect(await page.textContent('.client-id')).toBe('demo-web');
    expect(await page.locator('ul.scopes code').allTextContents()).toEqual(['profile', 'read']);
    await page.click('#approve');
    await page.waitForURL((u) => u.pathname === '/demo');
    const me = JSON.parse((await page.textContent('#api-me'))!) as Record<string, unknown>;
    expect(me).toEqual({ sub: DEMO_SUBJECT, client_id: 'demo-web', scopes: ['profile', 'read'] });
    const tokens = JSON.parse((await page.textContent('#tokens'))!) as Record<string, unknown>;
    expect(tokens.token_type).toBe('Bearer');
    expect(tokens.access_token).toBeTypeOf('string');
    expect(tokens.refresh_token).toBeTypeOf('string');
    expect(await page.textContent('#api-admin')).toContain('insufficient_scope');
    // The stylesheet loaded under the CSP, and nothing was blocked.
    const color = await page.evaluate('getComputedStyle(document.body).backgroundColor');
    expect(color).toBe('rgb(244, 245, 247)');
    expect(cspViolations).toEqual([]);
  });

  it('shows access_denied when the user denies (already signed in: straight to consent)', async () => {
    await page.goto(`${s.app.url}/demo`);
    await page.click('#sign-in-with-portcullis');
    await page.waitForURL((u) => u.pathname === '/oauth/authorize');
    await page.click('#deny');
    await page.waitForURL((u) => u.pathname === '/demo');
    expect(await page.textContent('#demo-error')).toContain('access_denied');
    expect(await page.locator('#api-me').count()).toBe(0);
  });

  it('refuses to be framed (X-Frame-Options and frame-ancestors)', async () => {
    const r = await page.goto(`${s.app.url}/login`);
    expect(r?.headers()['x-frame-options']).toBe('DENY');
    expect(r?.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
  });
});
