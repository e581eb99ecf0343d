/**
 * OpenTelemetry for the example app. Core reports spans and metrics through `@opentelemetry/api`
 * only; this module registers the SDK that records them, when asked to:
 *
 * - `OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318`: spans (and metrics, every
 *   `OTEL_METRIC_EXPORT_INTERVAL` ms, default 60 000) go to the collector over OTLP/HTTP (JSON),
 *   to `<endpoint>/v1/traces` and `<endpoint>/v1/metrics`. `OTEL_EXPORTER_OTLP_HEADERS` is read by
 *   the exporter itself and never logged.
 * - `METRICS_PORT=<port>`: the metrics in the Prometheus text format at
 *   `http://<METRICS_HOST>:<port>/metrics`, a listener of its own (METRICS_HOST defaults to
 *   127.0.0.1; 0 picks a free port, printed at start).
 *
 * With neither, nothing is registered and core's telemetry costs two global lookups per request.
 * Only core's attributes are exported (endpoint, outcome, grant type, client id on spans, store
 * slot and operation): never a token, code, secret or user id.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import { ConfigError } from './config.js';

/** What `parseTelemetryConfig` reads from the environment. */
export interface TelemetryConfig {
  /** `OTEL_EXPORTER_OTLP_ENDPOINT` (an http or https base URL, no trailing slash), or `null`. */
  readonly otlpEndpoint: string | null;
  /** `METRICS_PORT`, or `null` for no Prometheus listener. 0 picks a free port. */
  readonly metricsPort: number | null;
  /** `METRICS_HOST`: the address the Prometheus listener binds. Default 127.0.0.1. */
  readonly metricsHost: string;
  /** `OTEL_SERVICE_NAME`, default `portcullis-example`. */
  readonly serviceName: string;
  /** `OTEL_METRIC_EXPORT_INTERVAL`: how often metrics go to the OTLP endpoint, in ms. */
  readonly metricExportIntervalMs: number;
}

type Env = Readonly<Record<string, string | undefined>>;

const MAX_URL = 2048;
// Control characters (CR, LF, NUL, ...) and whitespace: never part of a setting this module takes.
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing them is the point
const UNSAFE = /[\u0000-\u0020\u007f]/;

function value(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

/**
 * Reads the telemetry settings. Throws `ConfigError` naming the variable; a refused endpoint is
 * never echoed (its user info or query may hold a credential).
 */
export function parseTelemetryConfig(env: Env = process.env): TelemetryConfig {
  const endpoint = value(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  let otlpEndpoint: string | null = null;
  if (endpoint !== undefined) {
    if (endpoint.length > MAX_URL || UNSAFE.test(endpoint)) {
      throw new ConfigError(
        `OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL of at most ${MAX_URL} characters without spaces or control characters`,
      );
    }
    let u: URL;
    try {
      u = new URL(endpoint);
    } catch {
      throw new ConfigError('OTEL_EXPORTER_OTLP_ENDPOINT is not a valid URL');
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new ConfigError('OTEL_EXPORTER_OTLP_ENDPOINT must be an http or https URL');
    if (u.username || u.password) {
      throw new ConfigError('OTEL_EXPORTER_OTLP_ENDPOINT must not carry credentials; use OTEL_EXPORTER_OTLP_HEADERS');
    }
    if (u.search || u.hash) throw new ConfigError('OTEL_EXPORTER_OTLP_ENDPOINT must not have a query or fragment');
    otlpEndpoint = endpoint.replace(/\/+$/, '');
  }
  const portText = value(env, 'METRICS_PORT');
  let metricsPort: number | null = null;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
      throw new ConfigError('METRICS_PORT must be a port number (0 to 65535)');
    }
    metricsPort = Number(portText);
  }
  const host = value(env, 'METRICS_HOST') ?? '127.0.0.1';
  if (host.length > 253 || (isIP(host) === 0 && !/^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host))) {
    throw new ConfigError('METRICS_HOST must be an IP address or a host name');
  }
  if (value(env, 'METRICS_HOST') !== undefined && metricsPort === null) throw new ConfigError('METRICS_HOST needs METRICS_PORT');
  const serviceName = value(env, 'OTEL_SERVICE_NAME') ?? 'portcullis-example';
  if (serviceName.length > 200 || UNSAFE.test(serviceName.replace(/ /g, ''))) {
    throw new ConfigError('OTEL_SERVICE_NAME must be at most 200 printable characters');
  }
  const intervalText = value(env, 'OTEL_METRIC_EXPORT_INTERVAL');
  let metricExportIntervalMs = 60_000;
  if (intervalText !== undefined) {
    if (!/^\d{1,9}$/.test(intervalText) || Number(intervalText) < 100) {
      throw new ConfigError('OTEL_METRIC_EXPORT_INTERVAL must be a number of milliseconds (at least 100)');
    }
    metricExportIntervalMs = Number(intervalText);
  }
  return { otlpEndpoint, metricsPort, metricsHost: host, serviceName, metricExportIntervalMs };
}

/** A registered SDK. */
export interface Telemetry {
  /** Where the Prometheus text is served (`http://host:port/metrics`), or `null`. */
  readonly metricsUrl: string | null;
  /** The OTLP endpoint spans go to, or `null`. */
  readonly otlpEndpoint: string | null;
  /**
   * Flushes what is buffered (spans, a last metrics export), closes the metrics listener and
   * unregisters the SDK, in `timeoutMs` at most (an unreachable collector does not hold the exit).
   */
  shutdown(timeoutMs?: number): Promise<void>;
}

function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/**
 * Registers the OpenTelemetry SDK globally (context manager, tracer provider, meter provider)
 * when `config` asks for an exporter; returns `null` when it asks for none. Call it before the
 * provider serves requests.
 */
export async function startTelemetry(config: TelemetryConfig): Promise<Telemetry | null> {
  if (config.otlpEndpoint === null && config.metricsPort === null) return null;
  const api = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { resourceFromAttributes } = await import('@opentelemetry/resources');
  const { MeterProvider, PeriodicExportingMetricReader } = await import('@opentelemetry/sdk-metrics');
  const resource = resourceFromAttributes({ 'service.name': config.serviceName });

  const contextManager = new AsyncLocalStorageContextManager().enable();
  api.context.setGlobalContextManager(contextManager);

  const readers: import('@opentelemetry/sdk-metrics').IMetricReader[] = [];
  let tracerProvider: import('@opentelemetry/sdk-trace').TracerProvider | null = null;
  if (config.otlpEndpoint !== null) {
    const { TracerProvider, BatchSpanProcessor } = await import('@opentelemetry/sdk-trace');
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-http');
    tracerProvider = new TracerProvider({
      resource,
      spanProcessors: [
        new BatchSpanProcessor({
          exporter: new OTLPTraceExporter({ url: `${config.otlpEndpoint}/v1/traces`, timeoutMillis: 5_000 }),
          scheduledDelayMillis: 1_000,
          exportTimeoutMillis: 5_000,
        }),
      ],
    });
    api.trace.setGlobalTracerProvider(tracerProvider);
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: `${config.otlpEndpoint}/v1/metrics`, timeoutMillis: 5_000 }),
        exportIntervalMillis: config.metricExportIntervalMs,
        exportTimeoutMillis: Math.min(5_000, config.metricExportIntervalMs),
      }),
    );
  }

  let server: Server | null = null;
  let metricsUrl: string | null = null;
  if (config.metricsPort !== null) {
    const { PrometheusExporter } = await import('@opentelemetry/exporter-prometheus');
    // The exporter renders the text; the listener is ours, so that it binds METRICS_HOST, can take
    // port 0, answers only GET /metrics and has short timeouts.
    const prometheus = new PrometheusExporter({ preventServerStart: true });
    readers.push(prometheus);
    server = createServer({ headersTimeout: 5_000, requestTimeout: 10_000, keepAliveTimeout: 5_000 }, (req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found\n');
      } else if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('Method not allowed\n');
      } else {
        prometheus.getMetricsRequestHandler(req, res);
      }
    });
    const address = await listen(server, config.metricsHost, config.metricsPort);
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    metricsUrl = `http://${host}:${address.port}/metrics`;
  }

  const meterProvider = new MeterProvider({ resource, readers });
  api.metrics.setGlobalMeterProvider(meterProvider);

  let done: Promise<void> | undefined;
  return {
    metricsUrl,
    otlpEndpoint: config.otlpEndpoint,
    shutdown(timeoutMs = 5_000) {
      done ??= (async () => {
        const work = Promise.allSettled([
          tracerProvider?.shutdown(),
          meterProvider.shutdown(),
          new Promise<void>((resolve) => {
            if (!server) return resolve();
            server.close(() => resolve());
            server.closeAllConnections();
          }),
        ]);
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        });
        await Promise.race([work, timeout]);
        clearTimeout(timer);
        api.trace.disable();
        api.metrics.disable();
        api.context.disable();
      })();
      return done;
    },
  };
}
