// Registers an OpenTelemetry SDK globally (OTEL_SDK=1 in servers/portcullis.mjs): the
// AsyncLocalStorage context manager, a TracerProvider (always-on sampling) whose spans go through a
// BatchSpanProcessor (defaults: batches of 512) to an exporter that drops them, and a MeterProvider whose reader exports to
// an exporter that drops the data once a minute. What an application with the SDK pays for
// recording, without the cost of any particular exporter's network I/O. The packages are
// devDependencies of @portcullis/core (3.1), loaded from there.
import { loadFromCore } from '../lib/workspace.mjs';

const { context, metrics, trace } = await loadFromCore('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = await loadFromCore('@opentelemetry/context-async-hooks');
const { BatchSpanProcessor, TracerProvider } = await loadFromCore('@opentelemetry/sdk-trace');
const { AggregationTemporality, MeterProvider, PeriodicExportingMetricReader } = await loadFromCore('@opentelemetry/sdk-metrics');

const SUCCESS = { code: 0 };
const spanSink = { export: (_spans, done) => done(SUCCESS), shutdown: async () => {}, forceFlush: async () => {} };
const metricSink = {
  export: (_metrics, done) => done(SUCCESS),
  shutdown: async () => {},
  forceFlush: async () => {},
  selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE,
};

const contextManager = new AsyncLocalStorageContextManager();
contextManager.enable();
context.setGlobalContextManager(contextManager);
trace.setGlobalTracerProvider(new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter: spanSink })] }));
metrics.setGlobalMeterProvider(
  new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: metricSink, exportIntervalMillis: 60_000 })] }),
);
