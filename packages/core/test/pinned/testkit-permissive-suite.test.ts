/**
 * The testkit's `permissiveProviderSuite`, as a binding author runs it: on the permissive reference
 * alone, and with a binding's slots (here the memory stores' grants and tokens) layered over it.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createMemoryStores } from '../../src/index.js';
import { permissiveProviderSuite } from '../permissive-store.js';

const t = { describe, it, beforeAll, afterAll };

permissiveProviderSuite(t, { name: 'the permissive reference' });
permissiveProviderSuite(t, {
  name: 'memory grants and tokens',
  create: async () => {
    const { grants, tokens } = createMemoryStores();
    return { grants, tokens };
  },
});
