/**
 * The guides quote their code from the example files (the convention in docs/README.md): every
 * ```ts block of a guide starts with `// file: <path under docs/>` and the rest of the block
 * appears verbatim in that file; every example file is quoted; every `provider.<method>` a guide
 * names exists; and tsc type-checks every example and test (docs/tsconfig.json).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { OAuth2Provider } from '@portcullis/core';
import { describe, it } from 'vitest';

const docs = fileURLToPath(new URL('../', import.meta.url));
const guides = readdirSync(docs).filter((f) => f.endsWith('.md'));
const read = (path: string) => readFileSync(`${docs}${path}`, 'utf8');
const MARKER = /^\/\/ file: docs\/((?:examples|test)\/[\w.-]+\.ts)\n/;

/** The fenced blocks of a markdown text, with their language. */
function blocks(markdown: string): { lang: string; body: string }[] {
  return [...markdown.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1] ?? '', body: m[2] ?? '' }));
}

describe('guides quote their examples verbatim', () => {
  it('finds the five guides and the index', () => {
    for (const g of [
      'README.md',
      'writing-a-binding.md',
      'hooks.md',
      'mixing-stores.md',
      'migrating-from-flask-oauthlib.md',
      'migrating-from-node-oauth2-server.md',
    ]) {
      assert.ok(guides.includes(g), g);
    }
  });

  for (const guide of guides) {
    it(`${guide}: every ts block names its file and appears in it verbatim`, () => {
      for (const { lang, body } of blocks(read(guide))) {
        if (lang !== 'ts') continue;
        const m = MARKER.exec(body);
        assert.ok(m, `${guide}: a ts block without a "// file: docs/..." first line:\n${body.slice(0, 200)}`);
        const quoted = body.slice(m[0].length);
        assert.ok(quoted.trim().length > 0, `${guide}: an empty block for ${m[1]}`);
        assert.ok(read(m[1]!).includes(quoted), `${guide}: this block is not in docs/${m[1]} verbatim:\n${quoted}`);
      }
    });

    it(`${guide}: every provider.<method> it names exists`, () => {
      for (const [, method] of read(guide).matchAll(/provider\.(\w+)\(/g)) {
        assert.equal(typeof (OAuth2Provider.prototype as unknown as Record<string, unknown>)[method!], 'function', `provider.${method}`);
      }
    });
  }

  it('every example file is quoted by some guide', () => {
    const all = guides.map(read).join('\n');
    for (const file of readdirSync(`${docs}examples`)) assert.ok(all.includes(`// file: docs/examples/${file}\n`), file);
  });
});

describe('the examples type-check', () => {
  it('tsc --noEmit -p docs/tsconfig.json reports nothing', async () => {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const result = await new Promise<{ code: number; out: string }>((resolve) => {
      execFile(process.execPath, [tsc, '--noEmit', '-p', `${docs}tsconfig.json`], { timeout: 120_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? Number(err.code ?? 1) : 0, out: `${stdout}${stderr}` }),
      );
    });
    assert.equal(result.out, '');
    assert.equal(result.code, 0);
  }, 150_000);
});
