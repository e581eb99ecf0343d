/** The shape of core: imports read in one direction, and the README's options table is generated. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import madge from 'madge';
import { describe, expect, it } from 'vitest';
import { optionsTable, withTable } from '../scripts/options-table.js';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

function sources(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? sources(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : [],
  );
}

describe('core layout', () => {
  it('has no import cycle in packages/core/src (madge)', async () => {
    const graph = await madge(SRC, { fileExtensions: ['ts'], tsConfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
    // Guard against a graph that found nothing (a wrong path would pass vacuously).
    expect(Object.keys(graph.obj()).length).toBeGreaterThan(20);
    expect(graph.circular()).toEqual([]);
  });

  it('madge sees a cycle when there is one (the check can fail)', async () => {
    const dir = fileURLToPath(new URL('./fixtures/cycle/', import.meta.url));
    const graph = await madge(dir, { fileExtensions: ['ts'] });
    expect(graph.circular()).toEqual([['a.ts', 'b.ts']]);
  });

  it('endpoints and grants never import the provider, and no cast to Engine remains', () => {
    for (const file of sources()) {
      const text = readFileSync(file, 'utf8');
      expect(text, file).not.toMatch(/as unknown as Engine/);
      if (/[/\\](endpoints|grants)[/\\]/.test(file)) expect(text, file).not.toMatch(/from '\.\.\/provider\.js'/);
    }
  });
});

describe('options', () => {
  it("the README's options table is the one generated from OPTION_DEFAULTS (pnpm docs:options)", () => {
    const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
    expect(readme).toContain(optionsTable());
    expect(withTable(readme)).toBe(readme);
  });
});
