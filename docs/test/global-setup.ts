/**
 * Starts a throwaway redis-server for the mixing-stores guide with the testkit's launcher: a free
 * 127.0.0.1 port, persistence off, removed at teardown.
 */
import { startRedis } from '@portcullis/binding-testkit/servers';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startRedis();
  project.provide('redisUrl', server.url);
  return () => server.stop();
}
