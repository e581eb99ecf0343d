/**
 * The live list of test projects. The root `vitest.config.ts` imports this list, so adding a
 * package's `vitest.config.ts` here is what makes its suite run (vitest 4 no longer reads a
 * workspace file on its own).
 */
export const projects: string[] = [
  'packages/core/vitest.config.ts',
  'packages/binding-testkit/vitest.config.ts',
  'packages/grant-cache-memory/vitest.config.ts',
  'packages/grant-cache-redis/vitest.config.ts',
  'packages/grant-cache-memcached/vitest.config.ts',
  'packages/binding-sequelize/vitest.config.ts',
  'packages/binding-mongoose/vitest.config.ts',
  'packages/binding-drizzle/vitest.config.ts',
  'packages/binding-prisma/vitest.config.ts',
  'packages/resource-server/vitest.config.ts',
  'packages/fastify/vitest.config.ts',
  'packages/koa/vitest.config.ts',
  'packages/hono/vitest.config.ts',
  'packages/admin/vitest.config.ts',
  'examples/provider/vitest.config.ts',
  'examples/resource-api/vitest.config.ts',
  'examples/hono/vitest.config.ts',
  'examples/nestjs/vitest.config.ts',
  'examples/nextjs/vitest.config.ts',
  'docs/vitest.config.ts',
  // Packs every package and installs the tarballs with npm outside the workspace (about 3 min).
  'examples/consumer-test/vitest.config.ts',
];

export default projects;
