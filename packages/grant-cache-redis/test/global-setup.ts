/**
 * Starts a single redis-server and a three-master Redis Cluster for the suite with the testkit's
 * launchers, unless `REDIS_URL` / `REDIS_CLUSTER_NODES` (comma-separated `host:port` list) name
 * existing ones.
 */
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from '@portcullis/binding-testkit/servers';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    redisClusterNodes: { host: string; port: number }[];
  }
}

function parseNodes(list: string): { host: string; port: number }[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const url = new URL(s.includes('://') ? s : `redis://${s}`);
      return { host: url.hostname, port: Number(url.port || 6379) };
    });
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let single: RedisServer | undefined;
  let cluster: RedisCluster | undefined;
  try {
    if (!process.env.REDIS_URL) single = await startRedis();
    if (!process.env.REDIS_CLUSTER_NODES) cluster = await startRedisCluster();
    project.provide('redisUrl', single?.url ?? process.env.REDIS_URL ?? '');
    project.provide('redisClusterNodes', [...(cluster?.nodes ?? parseNodes(process.env.REDIS_CLUSTER_NODES ?? ''))]);
  } catch (err) {
    await Promise.all([single?.stop(), cluster?.stop()]);
    throw err;
  }
  return async () => {
    await Promise.all([single?.stop(), cluster?.stop()]);
  };
}
