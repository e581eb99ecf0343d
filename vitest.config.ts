import { defineConfig } from 'vitest/config';
import { projects } from './vitest.workspace.js';

export default defineConfig({
  test: {
    projects,
    // A suite that ends up with no tests is a defect, not a pass.
    passWithNoTests: false,
  },
});
