/** The core in-memory binding passes the published contract suite. */
import { afterAll, beforeAll, describe, it } from 'vitest';
// Relative import: the testkit depends on core, so core cannot depend on it as a package.
import { clientStoreSuite, grantStoreSuite, tokenStoreSuite, userStoreSuite } from '../../binding-testkit/src/index.js';
import { createMemoryStores } from '../src/index.js';

const t = { describe, it, beforeAll, afterAll };

grantStoreSuite(t, { name: 'core memory', create: async () => createMemoryStores().grants });
tokenStoreSuite(t, { name: 'core memory', create: async () => createMemoryStores().tokens });
clientStoreSuite(t, { name: 'core memory', create: async (clients) => createMemoryStores({ clients }).clients });
userStoreSuite(t, { name: 'core memory', create: async (users) => createMemoryStores({ users }).users });
