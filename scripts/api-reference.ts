/**
 * The API reference, generated from the TSDoc comments of every package's entry point with the
 * TypeScript compiler API: `pnpm docs:api` writes docs/api/<package>.md. `undocumentedExports()`
 * is what the docs test uses to fail on an exported symbol without a doc comment.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The packages whose public API is documented, with their entry points. */
export const PACKAGES: readonly { name: string; dir: string }[] = [
  'core',
  'binding-sequelize',
  'binding-mongoose',
  'grant-cache-memory',
  'grant-cache-redis',
  'grant-cache-memcached',
  'binding-testkit',
  'resource-server',
  'fastify',
  'koa',
  'hono',
  'binding-drizzle',
  'binding-prisma',
  'admin',
].map((d) => ({ name: JSON.parse(readFileSync(join(ROOT, 'packages', d, 'package.json'), 'utf8')).name as string, dir: d }));

export interface ExportDoc {
  readonly name: string;
  readonly kind: string;
  readonly doc: string;
  readonly signature: string;
}

function kindOf(s: ts.Symbol): string {
  const f = s.flags;
  if (f & ts.SymbolFlags.Class) return 'class';
  if (f & ts.SymbolFlags.Function) return 'function';
  if (f & ts.SymbolFlags.Interface) return 'interface';
  if (f & ts.SymbolFlags.TypeAlias) return 'type';
  if (f & ts.SymbolFlags.Enum) return 'enum';
  if (f & ts.SymbolFlags.Variable) return 'const';
  return 'symbol';
}

function signatureOf(s: ts.Symbol, checker: ts.TypeChecker): string {
  const decl = s.declarations?.[0];
  if (!decl) return s.name;
  if (ts.isFunctionDeclaration(decl) || ts.isVariableDeclaration(decl)) {
    return `${s.name}: ${checker.typeToString(checker.getTypeOfSymbolAtLocation(s, decl), undefined, ts.TypeFormatFlags.NoTruncation)}`;
  }
  // Interfaces and types: as written, with their members' comments. Classes: the declaration
  // line and each public member's signature line.
  if (ts.isInterfaceDeclaration(decl) || ts.isTypeAliasDeclaration(decl)) return decl.getText();
  if (ts.isClassDeclaration(decl)) {
    const head = decl
      .getText()
      .split('\n')[0]!
      .replace(/\s*\{\s*$/, '');
    const members = decl.members
      .filter((m) => !(ts.getCombinedModifierFlags(m) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)))
      .filter((m) => !/@internal/.test(m.getFullText()))
      .flatMap((m) => {
        const body = (m as { body?: ts.Node }).body;
        const text = body ? m.getText().slice(0, body.getStart() - m.getStart()) : m.getText();
        const sig = text
          .replace(/\s+/g, ' ')
          .replace(/[ ;]+$/, '')
          .replace(/\( /g, '(')
          .replace(/, \)/g, ')');
        const name = m.name && ts.isIdentifier(m.name) ? checker.getSymbolAtLocation(m.name) : undefined;
        const para = name
          ? ts.displayPartsToString(name.getDocumentationComment(checker)).split('\n\n')[0]!.replace(/\s+/g, ' ').trim()
          : '';
        const stop = para.search(/\.(\s|$)/);
        const doc = stop === -1 ? para : para.slice(0, stop + 1);
        return doc ? [`  /** ${doc} */`, `  ${sig};`] : [`  ${sig};`];
      });
    return [`${head} {`, ...members, '}'].join('\n');
  }
  return decl.getText().split('\n')[0]!;
}

/** Every export of each package entry point, with its doc comment ('' when it has none). */
export function collect(): Map<string, ExportDoc[]> {
  const entries = PACKAGES.map((p) => join(ROOT, 'packages', p.dir, 'src', 'index.ts'));
  const program = ts.createProgram(entries, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    skipLibCheck: true,
    customConditions: ['source'],
  });
  const checker = program.getTypeChecker();
  const out = new Map<string, ExportDoc[]>();
  PACKAGES.forEach((p, i) => {
    const sf = program.getSourceFile(entries[i]!);
    const mod = sf && checker.getSymbolAtLocation(sf);
    if (!mod) throw new Error(`cannot read ${entries[i]}`);
    const docs: ExportDoc[] = [];
    for (const exp of checker.getExportsOfModule(mod)) {
      const s = exp.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exp) : exp;
      const doc = ts.displayPartsToString(s.getDocumentationComment(checker)).trim();
      docs.push({ name: exp.name, kind: kindOf(s), doc, signature: signatureOf(s, checker) });
    }
    docs.sort((a, b) => a.name.localeCompare(b.name));
    out.set(p.name, docs);
  });
  return out;
}

/** `package: name` of every exported symbol without a doc comment. */
export function undocumentedExports(all = collect()): string[] {
  return [...all].flatMap(([pkg, docs]) => docs.filter((d) => d.doc === '').map((d) => `${pkg}: ${d.name}`));
}

/** The markdown page of one package. */
export function page(pkg: string, docs: readonly ExportDoc[]): string {
  const lines = [`# ${pkg} API`, '', 'Generated from the TSDoc comments by `pnpm docs:api`; do not edit by hand.', ''];
  for (const d of docs) {
    lines.push(`## \`${d.name}\` (${d.kind})`, '', '```ts', d.signature, '```', '', d.doc, '');
  }
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const all = collect();
  const dir = join(ROOT, 'docs', 'api');
  mkdirSync(dir, { recursive: true });
  for (const [pkg, docs] of all) {
    writeFileSync(join(dir, `${pkg.replace('@portcullis/', '')}.md`), page(pkg, docs));
  }
  const missing = undocumentedExports(all);
  console.log(`docs/api: ${all.size} packages written${missing.length ? `; undocumented: ${missing.join(', ')}` : ''}`);
}
