/**
 * OpenTelemetry in the example app (issue 17), on app processes started as `pnpm start` runs them:
 *
 * - `METRICS_PORT`: after a client_credentials flow, a code flow and a refused client, the
 *   Prometheus text on the metrics listener counts requests by endpoint and outcome and tokens by
 *   grant type, with the exact counts, and holds no token, code, secret, verifier or user id;
 *   anything but GET /metrics is refused; SIGTERM exits 0.
 * - `OTEL_EXPORTER_OTLP_ENDPOINT`: a receiver in the test (127.0.0.1) gets OTLP/HTTP JSON with a
 *   `portcullis token` span and its store child spans, and a last metrics export when SIGTERM
 *   flushes the SDK; no secret is in any of it.
 * - Hostile settings are refused with a message naming the variable and never echoing a secret.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { basicAuth } from '@portcullis/binding-testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config.js';
import { parseTelemetryConfig } from '../src/telemetry.js';
import { ALICE, CB, CookieClient, TEST_SEED, TRICKY_SECRET } from './helpers.js';
import { authorizeCode, type Proc, postForm, startProcess } from './processes.js';

const CLIENT = 'interop-app';
const BASIC = basicAuth(CLIENT, TRICKY_SECRET);
const children: ChildProcess[] = [];
let dir: string;
let seedFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-telemetry-'));
  seedFile = join(dir, 'seed.json');
  await writeFile(seedFile, JSON.stringify(TEST_SEED));
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Sends SIGTERM and waits (15 s at most) for the exit code. */
function terminate(p: Proc): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no exit 15 s after SIGTERM:\n${p.output()}`)), 15_000);
    p.child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    p.child.kill('SIGTERM');
  });
}

/** A client_credentials flow, a code flow with PKCE, and a refused client: every value that must stay out of telemetry. */
async function flows(url: string, scope: string): Promise<string[]> {
  const cc = await postForm(`${url}/oauth/token`, BASIC, { grant_type: 'client_credentials', scope });
  expect(cc.status).toBe(200);
  const browser = new CookieClient(url);
  const { code, verifier } = await authorizeCode(browser, CLIENT, 'read');
  const ac = await postForm(`${url}/oauth/token`, BASIC, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: CB,
    code_verifier: verifier,
  });
  expect(ac.status).toBe(200);
  const wrong = await postForm(`${url}/oauth/token`, basicAuth(CLIENT, 'not-the-secret-Zq8'), { grant_type: 'client_credentials' });
  expect(wrong.status).toBe(401);
  return [
    cc.body.access_token as string,
    ac.body.access_token as string,
    ac.body.refresh_token as string,
    code,
    verifier,
    TRICKY_SECRET,
    encodeURIComponent(TRICKY_SECRET),
    'not-the-secret-Zq8',
    ALICE.password,
    ALICE.subject,
    ...[...browser.cookies.values()],
  ];
}

describe('METRICS_PORT: Prometheus text on a listener of its own', () => {
  let proc: Proc;
  let metricsUrl: string;

  beforeAll(async () => {
    proc = await startProcess(
      { DATABASE_URL: `sqlite:${join(dir, 'metrics.sqlite')}`, SEED_FILE: seedFile, METRICS_PORT: '0', RATE_LIMIT_MAX_FAILURES: '0' },
      children,
    );
    const m = /metrics: +(http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(proc.output());
    if (!m) throw new Error(`no metrics URL in the banner:\n${proc.output()}`);
    metricsUrl = m[1]!;
  });

  it('counts requests by endpoint and outcome and tokens by grant type, and holds no token or secret', async () => {
    const secrets = await flows(proc.url, 'read write');
    const r = await fetch(metricsUrl);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await r.text();
    const sample = (name: string, labels: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    expect(text).toContain('# TYPE portcullis_requests_total counter');
    expect(text).toContain('# TYPE portcullis_tokens_issued_total counter');
    // Two token requests answered, one refused; one authorization request answered and one decision.
    expect(sample('portcullis_requests_total', 'portcullis_endpoint="token",portcullis_outcome="ok"')).toBe(2);
    expect(sample('portcullis_requests_total', 'portcullis_endpoint="token",portcullis_outcome="invalid_client"')).toBe(1);
    expect(sample('portcullis_requests_total', 'portcullis_endpoint="authorize"')).toBeGreaterThanOrEqual(1);
    expect(sample('portcullis_tokens_issued_total', 'oauth_grant_type="client_credentials"')).toBe(1);
    expect(sample('portcullis_tokens_issued_total', 'oauth_grant_type="authorization_code"')).toBe(1);
    expect(text).toMatch(/^portcullis_store_duration_count\{[^}]*portcullis_store_slot="tokens"/m);
    for (const s of secrets) {
      expect(s.length).toBeGreaterThan(5);
      expect(text).not.toContain(s);
    }
  });

  it('answers only GET /metrics', async () => {
    const base = metricsUrl.replace(/\/metrics$/, '');
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/oauth/token`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(metricsUrl, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${metricsUrl}?x=1`)).status).toBe(200);
  });

  it('stops on SIGTERM with exit code 0, closing the metrics listener too', async () => {
    expect(await terminate(proc)).toBe(0);
    await expect(fetch(metricsUrl)).rejects.toThrow();
  });
});

interface Export {
  path: string;
  contentType: string;
  body: string;
}

describe('OTEL_EXPORTER_OTLP_ENDPOINT: spans and metrics over OTLP/HTTP', () => {
  let receiver: Server;
  const exports: Export[] = [];
  let endpoint: string;

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= 10_000_000) chunks.push(c);
      });
      req.on('end', () => {
        exports.push({
          path: req.url ?? '',
          contentType: String(req.headers['content-type']),
          body: Buffer.concat(chunks).toString('utf8'),
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    receiver.closeAllConnections();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  });

  it('exports a `portcullis token` span with store child spans, and flushes metrics on SIGTERM; no secret in either', async () => {
    const proc = await startProcess(
      {
        DATABASE_URL: `sqlite:${join(dir, 'otlp.sqlite')}`,
        SEED_FILE: seedFile,
        OTEL_EXPORTER_OTLP_ENDPOINT: `${endpoint}/`,
        OTEL_SERVICE_NAME: 'portcullis-test',
      },
      children,
    );
    expect(proc.output()).toContain(`otlp:         ${endpoint} (spans and metrics)`);
    const secrets = await flows(proc.url, 'read');
    // SIGTERM at once: what the batch processor and the metric reader hold is flushed on the way out.
    expect(await terminate(proc)).toBe(0);
    const traces = exports.filter((e) => e.path === '/v1/traces');
    const metrics = exports.filter((e) => e.path === '/v1/metrics');
    expect(traces.length).toBeGreaterThan(0);
    expect(metrics.length).toBeGreaterThan(0);
    for (const e of [...traces, ...metrics]) expect(e.contentType).toMatch(/^application\/json/);
    type Span = { name: string; spanId: string; parentSpanId?: string; traceId: string };
    const spans: Span[] = traces.flatMap(
      (e) =>
        (JSON.parse(e.body) as { resourceSpans: { scopeSpans: { spans: Span[] }[] }[] }).resourceSpans.flatMap((r) =>
          r.scopeSpans.flatMap((s) => s.spans),
        ) ?? [],
    );
    const tokenSpans = spans.filter((s) => s.name === 'portcullis token');
    expect(tokenSpans).toHaveLength(3);
    const children_ = spans.filter((s) => s.name.startsWith('portcullis.store ') && tokenSpans.some((t) => t.spanId === s.parentSpanId));
    expect(children_.length).toBeGreaterThan(0);
    expect(traces.some((e) => e.body.includes('"portcullis-test"'))).toBe(true);
    const names = metrics.flatMap((e) => [...e.body.matchAll(/"name":"(portcullis\.[a-z._]+)"/g)].map((m) => m[1]));
    expect(names).toEqual(expect.arrayContaining(['portcullis.requests', 'portcullis.tokens.issued', 'portcullis.store.duration']));
    for (const e of [...traces, ...metrics]) for (const s of secrets) expect(e.body).not.toContain(s);
  });
});

describe('hostile telemetry settings', () => {
  const refused = (env: Record<string, string>, name: RegExp, secret?: string) => {
    let err: unknown;
    try {
      parseTelemetryConfig(env);
    } catch (e) {
      err = e;
    }
    expect(err, JSON.stringify(env).slice(0, 120)).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message).toMatch(name);
    expect(message.length).toBeLessThan(300);
    expect(message).not.toMatch(/[\r\n\0]/);
    if (secret) expect(message).not.toContain(secret);
  };

  it('takes sane values, and defaults to nothing', () => {
    expect(parseTelemetryConfig({})).toEqual({
      otlpEndpoint: null,
      metricsPort: null,
      metricsHost: '127.0.0.1',
      serviceName: 'portcullis-example',
      metricExportIntervalMs: 60_000,
    });
    expect(
      parseTelemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.internal:4318/', METRICS_PORT: '9464', METRICS_HOST: '::1' }),
    ).toMatchObject({
      otlpEndpoint: 'https://otel.internal:4318',
      metricsPort: 9464,
      metricsHost: '::1',
    });
  });

  it('refuses CR/LF, NUL, oversize and credential-bearing values without echoing them', () => {
    refused({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/\r\nX-Injected: 1' }, /OTEL_EXPORTER_OTLP_ENDPOINT/, 'X-Injected');
    refused({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/\u0000' }, /OTEL_EXPORTER_OTLP_ENDPOINT/);
    refused({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://c/${'a'.repeat(3000)}` }, /OTEL_EXPORTER_OTLP_ENDPOINT/, 'aaaaaaaaaa');
    refused({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://user:s3cret-pw@c:4318' }, /OTEL_EXPORTER_OTLP_ENDPOINT/, 's3cret-pw');
    refused({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/?api_key=s3cret-pw' }, /OTEL_EXPORTER_OTLP_ENDPOINT/, 's3cret-pw');
    refused({ OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://c' }, /OTEL_EXPORTER_OTLP_ENDPOINT/);
    refused({ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url s3cret-pw' }, /OTEL_EXPORTER_OTLP_ENDPOINT/, 's3cret-pw');
    refused({ METRICS_PORT: '65536' }, /METRICS_PORT/);
    refused({ METRICS_PORT: '9464\r\n' + 'x'.repeat(5000) }, /METRICS_PORT/, 'xxxxxxxxxxxxxxxxxxxxxxxx');
    refused({ METRICS_PORT: '-1' }, /METRICS_PORT/);
    refused({ METRICS_PORT: '9464', METRICS_HOST: 'evil\r\nhost' }, /METRICS_HOST/);
    refused({ METRICS_PORT: '9464', METRICS_HOST: `${'a'.repeat(300)}` }, /METRICS_HOST/);
    refused({ METRICS_PORT: '9464', METRICS_HOST: 'a\u0000b' }, /METRICS_HOST/);
    refused({ METRICS_HOST: '0.0.0.0' }, /METRICS_HOST needs METRICS_PORT/);
    refused({ OTEL_SERVICE_NAME: 'a\r\nb' }, /OTEL_SERVICE_NAME/);
    refused({ OTEL_SERVICE_NAME: 'a'.repeat(201) }, /OTEL_SERVICE_NAME/);
    refused({ OTEL_METRIC_EXPORT_INTERVAL: '5' }, /OTEL_METRIC_EXPORT_INTERVAL/);
  });

  it('refuses a bad setting at start: the process exits 1 with a configuration error', async () => {
    const child = (await import('node:child_process')).spawnSync(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', 'src/main.ts'],
      {
        cwd: join(import.meta.dirname, '..'),
        env: { ...process.env, PORT: '0', DATABASE_URL: 'sqlite::memory:', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://u:s3cret-pw@127.0.0.1:1' },
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(child.status).toBe(1);
    expect(child.stderr).toMatch(/Configuration error: OTEL_EXPORTER_OTLP_ENDPOINT/);
    expect(child.stderr).not.toContain('s3cret-pw');
  });
});
