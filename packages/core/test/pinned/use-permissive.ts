/** Imported first by permissive-suites.test.ts: every `makeProvider()` of that file builds the permissive stores. */
import { useStoreKind } from '../helpers.js';

useStoreKind('permissive');
