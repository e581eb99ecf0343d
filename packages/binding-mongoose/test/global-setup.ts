import type { TestProject } from 'vitest/node';
import { ensureLauncherBuilt, type MongoTestServer, startMongoServer } from './mongo-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Base URL of the MongoDB server under test (no database name). */
    mongoUrl: string;
    /** `true` when the tests started the server themselves (so they may start more). */
    mongoLauncher: boolean;
  }
}

/**
 * Starts the mongo-java-server launcher (building it with Maven first when target/ lacks it),
 * unless MONGO_URL names a server to use instead.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.MONGO_URL;
  if (external) {
    project.provide('mongoUrl', external);
    project.provide('mongoLauncher', false);
    return async () => {};
  }
  const buildMs = ensureLauncherBuilt();
  if (buildMs > 0) console.log(`binding-mongoose: built the MongoDB test server with Maven in ${(buildMs / 1000).toFixed(1)} s`);
  const server: MongoTestServer = await startMongoServer();
  project.provide('mongoUrl', server.url);
  project.provide('mongoLauncher', true);
  return () => server.stop();
}
