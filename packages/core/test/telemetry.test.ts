/**
 * OpenTelemetry: with an SDK registered, each endpoint request is a span with a child per store
 * call, and the counters and the store latency histogram record; nothing secret is an attribute;
 * without an SDK, or with `telemetry: false`, nothing is recorded and the answers are unchanged.
 */
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { captureLogger } from '../../binding-testkit/src/flows.js';
import { createMemoryStores, describeError, generateClientSecret, hashSecret, OAuth2Provider } from '../src/index.js';
import { basic, form, json, pkce } from './security/fixture.js';

const SECRET = generateClientSecret();
const CB = 'https://app.example/cb';
const clients = [
  { id: 'svc', secretHash: hashSecret(SECRET), redirectUris: [], grantTypes: ['client_credentials' as const], scopes: ['read'] },
  {
    id: 'spa',
    secretHash: null,
    redirectUris: [CB],
    grantTypes: ['authorization_code' as const, 'refresh_token' as const],
    scopes: ['read'],
  },
];
const make = (telemetry?: boolean) =>
  new OAuth2Provider({
    issuer: 'https://auth.example',
    stores: createMemoryStores({ clients }),
    ...(telemetry === undefined ? {} : { telemetry }),
  });
const cc = (p: OAuth2Provider) =>
  p.token(form({ grant_type: 'client_credentials', scope: 'read' }, { authorization: basic('svc', SECRET) }));

describe('without an SDK', () => {
  it('records nothing and answers as before (the API is a no-op)', async () => {
    const p = make();
    const r = await cc(p);
    expect(r.status).toBe(200);
    const token = json(r).access_token as string;
    const v = p.checkAccessToken({ method: 'GET', url: '/api', headers: { authorization: `Bearer ${token}` } }, ['read']);
    // The resource check stays synchronous: no telemetry path is taken.
    expect(v instanceof Promise).toBe(false);
  });
});

describe('with an SDK registered', () => {
  const spans = new InMemorySpanExporter();
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  const contextManager = new AsyncLocalStorageContextManager();
  let tracerProvider: TracerProvider;
  let meterProvider: MeterProvider;

  beforeAll(() => {
    contextManager.enable();
    context.setGlobalContextManager(contextManager);
    tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] });
    trace.setGlobalTracerProvider(tracerProvider);
    meterProvider = new MeterProvider({ readers: [reader] });
    metrics.setGlobalMeterProvider(meterProvider);
  });
  afterEach(() => spans.reset());
  afterAll(async () => {
    trace.disable();
    metrics.disable();
    context.disable();
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
  });

  async function collected(): Promise<Map<string, { attributes: Record<string, unknown>; value: unknown }[]>> {
    await reader.forceFlush();
    const out = new Map<string, { attributes: Record<string, unknown>; value: unknown }[]>();
    const last = metricExporter.getMetrics().at(-1);
    for (const scope of last?.scopeMetrics ?? []) {
      for (const m of scope.metrics) {
        out.set(
          m.descriptor.name,
          m.dataPoints.map((d) => ({ attributes: d.attributes as Record<string, unknown>, value: d.value })),
        );
      }
    }
    return out;
  }

  it('makes a span per request with a child span per store call, with no secret attribute', async () => {
    // Made after the SDK: the provider picks it up either way (the tracer is a proxy).
    const p = make();
    const r = await cc(p);
    expect(r.status).toBe(200);
    const token = json(r).access_token as string;
    const finished = spans.getFinishedSpans();
    const request = finished.find((s) => s.name === 'portcullis token');
    expect(request).toBeDefined();
    expect(request!.attributes).toMatchObject({
      'portcullis.endpoint': 'token',
      'portcullis.outcome': 'ok',
      'http.response.status_code': 200,
      'oauth.grant_type': 'client_credentials',
      'oauth.client_id': 'svc',
    });
    const children = finished.filter((s) => s.parentSpanContext?.spanId === request!.spanContext().spanId);
    expect(children.map((s) => s.name).sort()).toEqual(['portcullis.store clients.getClient', 'portcullis.store tokens.saveTokens']);
    expect(children.every((s) => s.spanContext().traceId === request!.spanContext().traceId)).toBe(true);
    expect(children.find((s) => s.name.endsWith('saveTokens'))!.attributes).toEqual({
      'portcullis.store.slot': 'tokens',
      'portcullis.store.operation': 'saveTokens',
    });
    const everything = JSON.stringify(finished.map((s) => ({ n: s.name, a: s.attributes, e: s.events, st: s.status })));
    expect(everything).not.toContain(token);
    expect(everything).not.toContain(SECRET);
  });

  it('records failures as the error code, and 5xx as span errors, without the store error text', async () => {
    const stores = createMemoryStores({ clients });
    let down = false;
    const save = stores.tokens.saveTokens.bind(stores.tokens);
    stores.tokens.saveTokens = async (a, r) => {
      if (down) throw new Error('connect ECONNREFUSED postgres://admin:hunter2@db');
      return save(a, r);
    };
    const logger = captureLogger();
    const p = new OAuth2Provider({ issuer: 'https://auth.example', stores, logger });
    const bad = await p.token(form({ grant_type: 'client_credentials' }, { authorization: basic('svc', 'x'.repeat(43)) }));
    expect(bad.status).toBe(401);
    const s1 = spans.getFinishedSpans().find((s) => s.name === 'portcullis token')!;
    expect(s1.attributes['portcullis.outcome']).toBe('invalid_client');
    expect(s1.status.code).not.toBe(2);
    spans.reset();
    down = true;
    const failed = await cc(p);
    expect(failed.status).toBeGreaterThanOrEqual(500);
    const s2 = spans.getFinishedSpans().find((s) => s.name === 'portcullis token')!;
    expect(s2.status.code).toBe(2);
    const store = spans.getFinishedSpans().find((s) => s.name === 'portcullis.store tokens.saveTokens')!;
    expect(store.status.code).toBe(2);
    expect(JSON.stringify(spans.getFinishedSpans().map((s) => [s.attributes, s.status, s.events]))).not.toContain('hunter2');
    // Nor does the log: the driver's connection string is redacted.
    expect(logger.lines.join('\n')).toContain('postgres://admin:***@db');
    expect(logger.lines.join('\n')).not.toContain('hunter2');
  });

  it('counts requests, tokens issued, store latency and replays', async () => {
    const p = make();
    await cc(p);
    // A code flow, then the code replayed.
    const pair = pkce();
    const q = new URLSearchParams({
      client_id: 'spa',
      response_type: 'code',
      redirect_uri: CB,
      code_challenge: pair.challenge,
      code_challenge_method: 'S256',
    });
    const a = await p.authorize({ method: 'GET', url: `/oauth/authorize?${q}`, headers: {} });
    if (a.type !== 'consent') throw new Error('consent expected');
    const done = await p.completeAuthorization(a.request, { approved: true, userId: 'u1' });
    const code = new URL(done.headers.Location!).searchParams.get('code')!;
    const redeem = () =>
      p.token(form({ grant_type: 'authorization_code', code, redirect_uri: CB, client_id: 'spa', code_verifier: pair.verifier }));
    expect((await redeem()).status).toBe(200);
    expect((await redeem()).status).toBe(400);
    const m = await collected();
    const requests = m.get('portcullis.requests')!;
    expect(requests.some((d) => d.attributes['portcullis.endpoint'] === 'token' && d.attributes['portcullis.outcome'] === 'ok')).toBe(true);
    expect(requests.some((d) => d.attributes['portcullis.outcome'] === 'invalid_grant')).toBe(true);
    expect(requests.some((d) => d.attributes['portcullis.endpoint'] === 'authorize_decision')).toBe(true);
    const issued = m.get('portcullis.tokens.issued')!;
    expect(issued.find((d) => d.attributes['oauth.grant_type'] === 'authorization_code')?.value).toBeGreaterThanOrEqual(1);
    expect(issued.find((d) => d.attributes['oauth.grant_type'] === 'client_credentials')?.value).toBeGreaterThanOrEqual(1);
    const replays = m.get('portcullis.replays')!;
    expect(replays.find((d) => d.attributes['portcullis.replay'] === 'authorization_code')?.value).toBe(1);
    const latency = m.get('portcullis.store.duration')!;
    const consume = latency.find((d) => d.attributes['portcullis.store.operation'] === 'consumeGrant');
    expect(consume).toBeDefined();
    expect((consume!.value as { count: number }).count).toBeGreaterThanOrEqual(2);
  });

  it('observes resource checks (then on the promise path)', async () => {
    const p = make();
    const token = json(await cc(p)).access_token as string;
    spans.reset();
    const v = await p.checkAccessToken({ method: 'GET', url: '/api', headers: { authorization: `Bearer ${token}` } }, ['read']);
    expect(v.ok).toBe(true);
    const s = spans.getFinishedSpans().find((x) => x.name === 'portcullis resource')!;
    expect(s.attributes['portcullis.outcome']).toBe('ok');
    expect(spans.getFinishedSpans().some((x) => x.name === 'portcullis.store tokens.getAccessToken')).toBe(true);
  });

  it('telemetry: false records nothing', async () => {
    const p = make(false);
    expect((await cc(p)).status).toBe(200);
    expect(spans.getFinishedSpans()).toHaveLength(0);
  });
});

describe('describeError', () => {
  it('redacts credentials drivers quote from connection strings', () => {
    expect(describeError(new Error('connect failed: mysql://root:s3cr3t@127.0.0.1:3306/db'))).toBe(
      'Error: connect failed: mysql://root:***@127.0.0.1:3306/db',
    );
    expect(describeError(new Error('bad config password=hunter2; host=x'))).toBe('Error: bad config password=***; host=x');
    expect(describeError(new Error('x', { cause: new Error('redis://:pw@h') }))).toBe('Error: x <- Error: redis://:***@h');
    expect(describeError('plain text')).toBe('plain text');
  });
});
