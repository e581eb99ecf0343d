/**
 * What every answer must look like, whatever was sent: no 5xx, header values of visible ASCII
 * (and tab), `WWW-Authenticate` a well-formed challenge, error bodies JSON with a registered
 * `error` and an `error_description` in RFC 6749 section 5.2's character set, redirects carrying
 * the same. Each check returns a list of problems rather than throwing, so a failure names them all.
 */
import type { Received } from './targets.js';

/** Every `error` value core may answer with (RFC 6749, 6750, 7009, 7662). */
export const ERROR_CODES: ReadonlySet<string> = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'access_denied',
  'unsupported_response_type',
  'server_error',
  'temporarily_unavailable',
  'invalid_token',
  'insufficient_scope',
  'unsupported_token_type',
]);

/** RFC 6749 section 5.2: error_description = 1*( %x20-21 / %x23-5B / %x5D-7E ). */
export const DESCRIPTION = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
/** A header value as core must build it: visible ASCII, space and tab. */
export const HEADER_VALUE = /^[\t\x20-\x7e]*$/;
/** An auth-param of a challenge: `name="value"` with the value in the closed set (no `"`, no `\`). */
const AUTH_PARAM = /^([a-z_]+)="([\x20\x21\x23-\x5b\x5d-\x7e]*)"$/;
const CHALLENGE_PARAMS = new Set(['realm', 'error', 'error_description', 'error_uri', 'scope']);

/** Problems with a `WWW-Authenticate` value (RFC 6750 section 3, RFC 7617). */
export function challengeProblems(value: string): string[] {
  const m = /^(Bearer|Basic) (.*)$/.exec(value);
  if (!m) return [`WWW-Authenticate is not a Bearer or Basic challenge: ${JSON.stringify(value)}`];
  const problems: string[] = [];
  const seen = new Set<string>();
  // Values hold no `"`, so splitting on `", ` is exact for a well-formed challenge.
  for (const part of m[2]!.split(/(?<="), ?/)) {
    const p = AUTH_PARAM.exec(part);
    if (!p) {
      problems.push(`WWW-Authenticate has a malformed auth-param ${JSON.stringify(part)} in ${JSON.stringify(value)}`);
      continue;
    }
    const name = p[1]!;
    if (!CHALLENGE_PARAMS.has(name)) problems.push(`WWW-Authenticate has an unexpected parameter ${name}`);
    if (seen.has(name)) problems.push(`WWW-Authenticate repeats ${name}: ${JSON.stringify(value)}`);
    seen.add(name);
    if (name === 'error' && !ERROR_CODES.has(p[2]!)) problems.push(`WWW-Authenticate error ${JSON.stringify(p[2])} is not registered`);
  }
  if (!seen.has('realm') && m[1] === 'Basic') problems.push('Basic challenge without realm');
  return problems;
}

function errorFields(where: string, error: unknown, description: unknown): string[] {
  const problems: string[] = [];
  if (typeof error !== 'string' || !ERROR_CODES.has(error))
    problems.push(`${where}: error ${JSON.stringify(error)} is not a registered code`);
  if (description !== undefined && description !== null) {
    if (typeof description !== 'string' || !DESCRIPTION.test(description)) {
      problems.push(`${where}: error_description ${JSON.stringify(description)} is outside %x20-21 / %x23-5B / %x5D-7E`);
    }
  }
  return problems;
}

/** Everything wrong with one answer; `head` when the request was HEAD (no body comes back). */
export function responseProblems(r: Received, head: boolean): string[] {
  const problems: string[] = [];
  if (r.status >= 500) problems.push(`status ${r.status}${r.body ? `: ${r.body.slice(0, 300)}` : ''}`);
  for (const [name, value] of r.headers) {
    if (!HEADER_VALUE.test(value)) problems.push(`header ${name} has bytes outside visible ASCII/SP/HTAB: ${JSON.stringify(value)}`);
    if (name.toLowerCase() === 'www-authenticate') problems.push(...challengeProblems(value));
  }
  const location = r.headers.find(([k]) => k.toLowerCase() === 'location')?.[1];
  if (location !== undefined) {
    let url: URL | null = null;
    try {
      url = new URL(location);
    } catch {
      problems.push(`Location is not an absolute URL: ${JSON.stringify(location)}`);
    }
    if (url) {
      // The error of a redirect is in the query (code flow) or the fragment (implicit).
      for (const params of [url.searchParams, new URLSearchParams(url.hash.slice(1))]) {
        if (params.has('error'))
          problems.push(...errorFields('redirect', params.get('error'), params.get('error_description') ?? undefined));
      }
    }
  }
  if (r.status >= 400 && r.status < 500 && !(head && r.body === '')) {
    let body: unknown;
    try {
      body = JSON.parse(r.body);
    } catch {
      problems.push(`${r.status} body is not JSON: ${JSON.stringify(r.body.slice(0, 200))}`);
    }
    if (body !== undefined) {
      if (typeof body !== 'object' || body === null) problems.push(`${r.status} body is not a JSON object`);
      else {
        const b = body as { error?: unknown; error_description?: unknown };
        problems.push(...errorFields(`${r.status} body`, b.error, b.error_description));
      }
    }
  }
  return problems;
}
