/**
 * The grant names core's metrics carry (`portcullis.tokens.issued` by `oauth.grant_type`,
 * `portcullis.replays` by `portcullis.replay`), pinned for the refresh token and password grants:
 * each test fails when a grant reports another name (mutation testing). The counts are exact: one
 * metrics SDK per file, the counters read once after a known sequence of requests.
 */
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryStores, hashPassword, OAuth2Provider } from '../../src/index.js';
import { basic, clients, form, json, SECRET, userTokens } from '../security/fixture.js';

const PASSWORD = 'correct horse battery staple';

describe('grant names in the metrics', () => {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  let meterProvider: MeterProvider;

  beforeAll(() => {
    meterProvider = new MeterProvider({ readers: [reader] });
    metrics.setGlobalMeterProvider(meterProvider);
  });
  afterAll(async () => {
    metrics.disable();
    await meterProvider.shutdown();
  });

  async function points(name: string): Promise<{ attributes: Record<string, unknown>; value: unknown }[]> {
    await reader.forceFlush();
    for (const scope of exporter.getMetrics().at(-1)?.scopeMetrics ?? []) {
      for (const m of scope.metrics) {
        if (m.descriptor.name === name) {
          return m.dataPoints.map((d) => ({ attributes: d.attributes as Record<string, unknown>, value: d.value }));
        }
      }
    }
    return [];
  }

  it('refresh_token and password issues, and a refresh token replay, are counted under their names', async () => {
    const stores = createMemoryStores({
      clients: [{ ...clients[0]!, grantTypes: ['authorization_code', 'refresh_token', 'password'] }],
      users: [{ username: 'alice', user: { id: 'u-alice' }, passwordHash: await hashPassword(PASSWORD) }],
    });
    const provider = new OAuth2Provider({
      issuer: 'https://auth.example',
      grants: ['authorization_code', 'refresh_token', 'password'],
      stores,
      telemetry: true,
    });
    const auth = { authorization: basic('app', SECRET) };
    const t = await userTokens(provider);
    const refresh = () => provider.token(form({ grant_type: 'refresh_token', refresh_token: t.refresh_token }, auth));
    expect((await refresh()).status).toBe(200);
    // The same refresh token again: a replay, refused.
    const replay = await refresh();
    expect(replay.status).toBe(400);
    expect(json(replay).error).toBe('invalid_grant');
    const pw = await provider.token(form({ grant_type: 'password', username: 'alice', password: PASSWORD, scope: 'read' }, auth));
    expect(pw.status, pw.body).toBe(200);

    const issued = await points('portcullis.tokens.issued');
    const count = (grant: string) => issued.find((d) => d.attributes['oauth.grant_type'] === grant)?.value;
    expect(count('authorization_code')).toBe(1);
    expect(count('refresh_token')).toBe(1);
    expect(count('password')).toBe(1);
    expect(issued.every((d) => typeof d.attributes['oauth.grant_type'] === 'string' && d.attributes['oauth.grant_type'] !== '')).toBe(true);
    const replays = await points('portcullis.replays');
    expect(replays.find((d) => d.attributes['portcullis.replay'] === 'refresh_token')?.value).toBe(1);
  });
});
