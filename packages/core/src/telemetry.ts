/**
 * OpenTelemetry, through `@opentelemetry/api` only: a span per endpoint request with a child span
 * per store call, and metrics (requests by endpoint and outcome, tokens issued by grant type, store
 * call latency, replays detected). Nothing is recorded unless the application registers an SDK;
 * until then each request costs two global lookups. No token, code, secret or user id is ever an
 * attribute: only endpoint names, grant types, error codes, client ids, store slots and statuses.
 */
import {
  type Attributes,
  type Context,
  type Counter,
  context,
  createNoopMeter,
  type Histogram,
  type MeterProvider,
  metrics,
  ProxyTracerProvider,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';

/** The instrumentation scope name of every span and instrument. */
export const TELEMETRY_SCOPE = '@portcullis/core';

/** What a replay counter counts: a reused authorization code, rotated refresh token or DPoP proof. */
export type ReplayKind = 'authorization_code' | 'refresh_token' | 'dpop_proof';

interface Instruments {
  requests: Counter;
  issued: Counter;
  storeDuration: Histogram;
  replays: Counter;
}

// The classes the API falls back to when no SDK is registered, to tell "none yet" from "an SDK".
const NOOP_METER = createNoopMeter().constructor;
const NOOP_TRACER_PROVIDER = new ProxyTracerProvider().getDelegate().constructor;

/** One request being observed: its span (recording or not) and the instruments, if any. */
export interface RequestScope {
  readonly span: Span;
  /** The context store calls start their child spans in. */
  readonly ctx: Context;
  /** `true` when a tracer records the span (store calls then get child spans). */
  readonly tracing: boolean;
}

/** The request's outcome, as recorded when it ends. */
export interface Outcome {
  readonly status: number;
  /** The RFC error code, or `null` on success. */
  readonly error: string | null;
  readonly clientId: string | null;
  readonly grantType: string | null;
}

/** Spans and metrics for one provider. `enabled: false` (option `telemetry: false`) records nothing. */
export class Telemetry {
  private readonly tracer: Tracer;
  private meterProvider: MeterProvider | null = null;
  private instruments: Instruments | null = null;

  constructor(readonly enabled: boolean) {
    // A ProxyTracer: it follows an SDK registered after the provider was made.
    this.tracer = trace.getTracer(TELEMETRY_SCOPE);
  }

  /** `true` when an SDK's tracer provider is registered. */
  private tracing(): boolean {
    const p = trace.getTracerProvider();
    return !(p instanceof ProxyTracerProvider && p.getDelegate().constructor === NOOP_TRACER_PROVIDER);
  }

  /** The instruments of the registered meter provider, made again when the application registers another; `null` without one. */
  private meters(): Instruments | null {
    const p = metrics.getMeterProvider();
    if (p !== this.meterProvider) {
      this.meterProvider = p;
      const meter = p.getMeter(TELEMETRY_SCOPE);
      this.instruments =
        meter.constructor === NOOP_METER
          ? null
          : {
              requests: meter.createCounter('portcullis.requests', { description: 'Endpoint requests, by endpoint and outcome' }),
              issued: meter.createCounter('portcullis.tokens.issued', { description: 'Access tokens issued, by grant type' }),
              storeDuration: meter.createHistogram('portcullis.store.duration', {
                description: 'Store call latency, by slot and operation',
                unit: 'ms',
              }),
              replays: meter.createCounter('portcullis.replays', {
                description: 'Replays detected: reused codes, rotated refresh tokens and DPoP proofs',
              }),
            };
    }
    return this.instruments;
  }

  /** `true` when an SDK would record a request (a tracer or a meter provider is registered). */
  active(): boolean {
    return this.enabled && (this.tracing() || this.meters() !== null);
  }

  /** Starts observing a request; `null` (and nothing to do) when nothing would record it. */
  begin(endpoint: string): RequestScope | null {
    if (!this.enabled) return null;
    const tracing = this.tracing();
    if (!tracing && this.meters() === null) return null;
    const span = this.tracer.startSpan(`portcullis ${endpoint}`, {
      kind: SpanKind.INTERNAL,
      attributes: { 'portcullis.endpoint': endpoint },
    });
    return { span, ctx: trace.setSpan(context.active(), span), tracing: tracing && span.isRecording() };
  }

  /** Ends a request: its span's attributes and status, and the request counter. */
  end(scope: RequestScope, endpoint: string, outcome: Outcome): void {
    const attrs: Attributes = {
      'portcullis.outcome': outcome.error ?? 'ok',
      'http.response.status_code': outcome.status,
    };
    if (outcome.grantType !== null) attrs['oauth.grant_type'] = outcome.grantType;
    if (outcome.clientId !== null) attrs['oauth.client_id'] = outcome.clientId;
    scope.span.setAttributes(attrs);
    if (outcome.status >= 500) scope.span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error ?? 'server_error' });
    scope.span.end();
    this.meters()?.requests.add(1, { 'portcullis.endpoint': endpoint, 'portcullis.outcome': outcome.error ?? 'ok' });
  }

  /** Counts an access token issued with `grantType`. */
  issued(grantType: string): void {
    if (this.enabled) this.meters()?.issued.add(1, { 'oauth.grant_type': grantType });
  }

  /** Counts a replay core detected. */
  replay(kind: ReplayKind): void {
    if (this.enabled) this.meters()?.replays.add(1, { 'portcullis.replay': kind });
  }

  /**
   * Wraps a store method so each call gets a child span of the request (when tracing) and a
   * latency sample (when metering). Sync results stay sync.
   */
  wrapStoreCall<A extends unknown[], R>(scope: RequestScope, slot: string, operation: string, fn: (...args: A) => R): (...args: A) => R {
    const attributes = { 'portcullis.store.slot': slot, 'portcullis.store.operation': operation };
    return (...args: A): R => {
      const span = scope.tracing
        ? this.tracer.startSpan(`portcullis.store ${slot}.${operation}`, { kind: SpanKind.CLIENT, attributes }, scope.ctx)
        : null;
      const started = performance.now();
      const done = (err?: unknown) => {
        this.meters()?.storeDuration.record(performance.now() - started, attributes);
        if (span) {
          // The error's class only: store errors may quote connection strings or keys.
          if (err !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : 'error' });
          span.end();
        }
      };
      let r: R;
      try {
        r = fn(...args);
      } catch (err) {
        done(err);
        throw err;
      }
      if (r !== null && typeof r === 'object' && typeof (r as { then?: unknown }).then === 'function') {
        return (r as unknown as Promise<unknown>).then(
          (v) => {
            done();
            return v;
          },
          (err: unknown) => {
            done(err);
            throw err;
          },
        ) as R;
      }
      done();
      return r;
    };
  }
}

/** Store slot names in spans, by the key `Slots` holds the method under. */
const SLOT_NAMES: Readonly<Record<string, string>> = {
  getClient: 'clients.getClient',
  getUserByUsername: 'users.getUserByUsername',
  saveGrant: 'grants.saveGrant',
  consumeGrant: 'grants.consumeGrant',
  saveTokens: 'tokens.saveTokens',
  getAccessToken: 'tokens.getAccessToken',
  getRefreshToken: 'tokens.getRefreshToken',
  consumeRefreshToken: 'tokens.consumeRefreshToken',
  revokeAccessToken: 'tokens.revokeAccessToken',
  revokeFamily: 'tokens.revokeFamily',
};
/** Whole stores registered as objects, whose every method is observed. */
const STORE_OBJECTS = ['devices', 'ephemeral'] as const;

/**
 * A copy of the resolved store slots whose every store method is observed within `scope`. Built
 * per observed request (the wrappers hold its span), only when telemetry records something.
 */
export function observedSlots<S extends object>(t: Telemetry, scope: RequestScope, slots: S): S {
  const out = { ...slots } as Record<string, unknown>;
  for (const [key, name] of Object.entries(SLOT_NAMES)) {
    const fn = out[key];
    if (typeof fn !== 'function') continue;
    const [slot, operation] = name.split('.') as [string, string];
    out[key] = t.wrapStoreCall(scope, slot, operation, fn as (...args: unknown[]) => unknown);
  }
  for (const key of STORE_OBJECTS) {
    const store = out[key] as Record<string, unknown> | undefined;
    if (!store) continue;
    const wrapped: Record<string, unknown> = {};
    for (const op of Object.keys(store).concat(Object.getOwnPropertyNames(Object.getPrototypeOf(store) ?? {}))) {
      const fn = store[op];
      if (op === 'constructor' || typeof fn !== 'function') continue;
      wrapped[op] = t.wrapStoreCall(scope, key, op, (fn as (...args: unknown[]) => unknown).bind(store));
    }
    out[key] = wrapped;
  }
  return out as S;
}
