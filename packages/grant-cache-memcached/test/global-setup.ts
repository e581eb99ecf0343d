/**
 * Starts a pool of two memcached servers for the suite, unless `MEMCACHED_URL` names existing
 * ones (`host:port`, `memcached://host:port`, or a comma-separated list of either). The servers
 * come from the testkit's `startMemcached`.
 */

import { type MemcachedServer, startMemcached } from '@portcullis/binding-testkit/servers';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `host:port` of each server of the pool. */
    memcachedServers: string[];
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started: MemcachedServer[] = [];
  let servers: string[];
  if (process.env.MEMCACHED_URL) {
    servers = process.env.MEMCACHED_URL.split(',')
      .map((s) =>
        s
          .trim()
          .replace(/^memcached:\/\//, '')
          .replace(/\/$/, ''),
      )
      .filter(Boolean);
  } else {
    try {
      started.push(await startMemcached(), await startMemcached());
    } catch (err) {
      await Promise.all(started.map((s) => s.stop()));
      throw err;
    }
    servers = started.map((s) => s.address);
  }
  project.provide('memcachedServers', servers);
  return async () => {
    await Promise.all(started.map((s) => s.stop()));
  };
}
