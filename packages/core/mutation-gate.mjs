// The second half of `pnpm mutation`: StrykerJS enforces the overall break threshold (90%); this
// gate reads its JSON report and fails when a mutant survives (or is not covered) in one of the
// security checks below, unless MUTATION.md's list of equivalent mutants names it. Checks are found
// by the text of the source, not by line numbers, so they follow the code when it moves.
// Usage: node packages/core/mutation-gate.mjs [report.json]
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const reportPath = process.argv[2] ?? `${here}reports/mutation/mutation.json`;

/**
 * A security check: in files whose path ends with `file`, the lines matching `line`, or the whole
 * top-level function whose first line matches `fn` (up to the next line that is `}`).
 */
const CHECKS = [
  { name: 'client check of authorization codes', file: 'grants/authorization-code.ts', line: /\.clientId !== client\.id/ },
  { name: 'expiry re-check of authorization codes', file: 'grants/authorization-code.ts', line: /expiresAt\.getTime\(\)/ },
  { name: 'client and expiry checks of refresh tokens', file: 'grants/refresh-token.ts', fn: /^function check\(/ },
  { name: 'client check of refresh tokens', file: 'grants/refresh-token.ts', line: /clientId !== client\.id|'other-client'/ },
  { name: 'expiry re-check of refresh tokens', file: 'grants/refresh-token.ts', line: /expiresAt\.getTime\(\)/ },
  { name: 'expiry re-check of access tokens', file: 'endpoints/resource.ts', line: /expiresAt\.getTime\(\)/ },
  { name: 'expiry re-check at introspection', file: 'endpoints/introspection.ts', line: /expiresAt\.getTime\(\)/ },
  { name: 'introspection rights', file: 'endpoints/introspection.ts', line: /resourceServer/ },
  { name: 'implicit permission check', file: 'endpoints/authorize.ts', line: /allows\(e, client, 'implicit'\)/ },
  { name: 'scope check of the password grant', file: 'grants/password.ts', line: /resolveScopes|isOAuthError\(scopes\)/ },
  { name: 'tokenEndpointAuthMethod checks', file: '.ts', line: /\bregistered\b.*(!==|===)|tokenEndpointAuthMethod/ },
  { name: 'cleaning of parameter names', file: 'params.ts', fn: /^(export )?function safeName\(/ },
  { name: 'length guard of safeEqual', file: 'crypto.ts', fn: /^export function safeEqual\(/ },
];

const UNSAFE = new Set(['Survived', 'NoCoverage']);

/** `file:line-text:mutator:replacement` entries from MUTATION.md's table of equivalent mutants. */
function equivalents() {
  let text = '';
  try {
    text = readFileSync(`${here}MUTATION.md`, 'utf8');
  } catch {
    return new Set();
  }
  const out = new Set();
  for (const row of text.split('\n')) {
    // | `file` | `source line` | Mutator | `replacement` | why |
    const m = /^\|\s*`([^`]+)`\s*\|\s*`([^`]*)`\s*\|\s*(\w+)\s*\|\s*`([^`]*)`\s*\|/.exec(row);
    if (m) out.add(`${m[1]}\u0000${m[2].trim()}\u0000${m[3]}\u0000${m[4].trim()}`);
  }
  return out;
}

function regions(lines, check) {
  const hit = new Set();
  if (check.line) {
    lines.forEach((l, i) => {
      if (check.line.test(l)) hit.add(i + 1);
    });
  }
  if (check.fn) {
    const start = lines.findIndex((l) => check.fn.test(l));
    if (start !== -1) {
      for (let i = start; i < lines.length; i++) {
        hit.add(i + 1);
        if (i > start && /^}/.test(lines[i])) break;
      }
    }
  }
  return hit;
}

const report = JSON.parse(readFileSync(reportPath, 'utf8'));

// Stamps the incremental baseline StrykerJS has just written with the fingerprint of the inputs it
// cannot diff (computed by stryker.config.mjs when the run started), so the next run may reuse its
// results. A baseline older than this run's start (StrykerJS did not complete) is left as it is.
const baseline = `${here}mutation-baseline.json`;
const inputs = `${here}reports/mutation/inputs.txt`;
if (process.argv[2] === undefined && existsSync(baseline) && existsSync(inputs) && statSync(baseline).mtimeMs >= statSync(inputs).mtimeMs) {
  const data = JSON.parse(readFileSync(baseline, 'utf8'));
  data.portcullisInputs = readFileSync(inputs, 'utf8').trim();
  writeFileSync(baseline, JSON.stringify(data));
}

// Per-file scores, as StrykerJS counts them: (killed + timeout) / (all but ignored and errors).
let detectedAll = 0;
let countedAll = 0;
for (const [path, file] of Object.entries(report.files)) {
  const counted = file.mutants.filter((m) => !['Ignored', 'CompileError', 'RuntimeError'].includes(m.status));
  const detected = counted.filter((m) => m.status === 'Killed' || m.status === 'Timeout').length;
  detectedAll += detected;
  countedAll += counted.length;
  const pct = counted.length ? ((100 * detected) / counted.length).toFixed(1) : 'n/a';
  console.log(
    `${pct.padStart(6)}%  ${String(detected).padStart(4)}/${String(counted.length).padEnd(4)} ${path.replace(/^.*packages\/core\/src\//, '')}`,
  );
}
console.log(`${((100 * detectedAll) / Math.max(countedAll, 1)).toFixed(2).padStart(6)}%  ${detectedAll}/${countedAll} overall`);
const allowed = equivalents();
const failures = [];
const found = new Set();
for (const [path, file] of Object.entries(report.files)) {
  const lines = file.source.split('\n');
  const short = path.replace(/^.*packages\/core\/src\//, '');
  for (const check of CHECKS) {
    if (!path.endsWith(check.file)) continue;
    const lineSet = regions(lines, check);
    if (lineSet.size > 0) found.add(check.name);
    for (const m of file.mutants) {
      if (!UNSAFE.has(m.status) || !lineSet.has(m.location.start.line)) continue;
      const text = lines[m.location.start.line - 1].trim();
      const key = `${short}\u0000${text}\u0000${m.mutatorName}\u0000${(m.replacement ?? '').trim()}`;
      if (allowed.has(key)) continue;
      failures.push(`${check.name}: ${short}:${m.location.start.line} ${m.mutatorName} ${m.status} -> ${m.replacement ?? ''}\n    ${text}`);
    }
  }
}
const missing = CHECKS.filter((c) => !found.has(c.name)).map((c) => c.name);
if (missing.length > 0) {
  failures.push(`not found in the report (moved or renamed? update CHECKS in mutation-gate.mjs): ${missing.join('; ')}`);
}
if (failures.length > 0) {
  console.error(`mutation gate: ${failures.length} failure(s) in the security checks:\n${[...new Set(failures)].join('\n')}`);
  process.exit(1);
}
console.log(`mutation gate: no surviving mutant in the ${CHECKS.length - missing.length} security checks found`);
