/**
 * Writes the options table of README.md from `OPTION_DEFAULTS` (src/options.ts), between the
 * `<!-- options:start -->` and `<!-- options:end -->` markers. `pnpm docs:options` runs it;
 * test/architecture.test.ts fails when the README is out of step.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OPTION_DEFAULTS } from '../src/options.js';

export const START = '<!-- options:start -->';
export const END = '<!-- options:end -->';

/** The markdown table, one row per option, in the order of `OPTION_DEFAULTS`. */
export function optionsTable(): string {
  const rows = Object.entries(OPTION_DEFAULTS).map(([name, d]) => `| \`${name}\` | ${d.shown} | ${d.meaning} |`);
  return ['| option | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

/** The README with its table section replaced. */
export function withTable(readme: string): string {
  const a = readme.indexOf(START);
  const b = readme.indexOf(END);
  if (a === -1 || b < a) throw new Error(`README.md needs ${START} and ${END} around the options table`);
  return `${readme.slice(0, a + START.length)}\n${optionsTable()}\n${readme.slice(b)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const path = fileURLToPath(new URL('../README.md', import.meta.url));
  writeFileSync(path, withTable(readFileSync(path, 'utf8')));
  console.log('README.md: options table written');
}
