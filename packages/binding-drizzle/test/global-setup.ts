/**
 * Starts a throwaway PostgreSQL and MariaDB (Debian packages `postgresql` and `mariadb-server`)
 * with the testkit's launchers, hands their URLs to the tests through `provide`, and stops them
 * in teardown. `DATABASE_URL_POSTGRES` / `DATABASE_URL_MARIADB` name existing servers instead.
 */
import { type DatabaseServer, startMariadb, startPostgres } from '@portcullis/binding-testkit/servers';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
    mariadbUrl: string;
  }
}

type Server = Pick<DatabaseServer, 'url' | 'stop'>;

const existing = (url: string): Server => ({ url, stop: async () => {} });

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const envPg = process.env.DATABASE_URL_POSTGRES;
  const envMaria = process.env.DATABASE_URL_MARIADB;
  const results = await Promise.allSettled([
    envPg ? Promise.resolve(existing(envPg)) : startPostgres(),
    envMaria ? Promise.resolve(existing(envMaria)) : startMariadb(),
  ]);
  const servers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const teardown = async () => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await teardown();
    throw failed.reason;
  }
  const [pg, maria] = servers as [Server, Server];
  project.provide('postgresUrl', pg.url);
  project.provide('mariadbUrl', maria.url);
  return teardown;
}
