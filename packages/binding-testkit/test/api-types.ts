// Type-level check (run by `typecheck`, not by vitest): both runners' functions fit `TestApi`.
import type * as nodeTest from 'node:test';
import type { TestApi } from '@portcullis/binding-testkit';
import type * as vitest from 'vitest';

export type VitestFits = Pick<typeof vitest, 'describe' | 'it' | 'beforeAll' | 'afterAll'> extends TestApi ? true : never;
export type NodeTestFits = {
  describe: typeof nodeTest.describe;
  it: typeof nodeTest.it;
  beforeAll: typeof nodeTest.before;
  afterAll: typeof nodeTest.after;
} extends TestApi
  ? true
  : never;
export const fits: [VitestFits, NodeTestFits] = [true, true];
