import { InvalidClientError, InvalidRequestError, type OAuthError } from './errors.js';
import type { OAuthRequest } from './http.js';

/**
 * Request parameters: each name at most once (RFC 6749 section 3.1: no repeated parameters), but
 * `resource` (RFC 8707), whose values `resourceValues` gives.
 */
export type Params = Record<string, string>;

const FORM_TYPE = 'application/x-www-form-urlencoded';

/**
 * The one parameter that may be repeated: RFC 8707 section 2, "Multiple resource parameters MAY be
 * used". Its first value stays in `Params` (as `resource`); every value, in order, is kept here
 * for `resourceValues`. Every other repeated name is still `invalid_request`.
 */
const REPEATABLE = 'resource';
const repeated = new WeakMap<Params, string[]>();

/** Every `resource` value of the parameters, in request order (RFC 8707); empty when none. */
export function resourceValues(p: Params): readonly string[] {
  return repeated.get(p) ?? (p[REPEATABLE] !== undefined ? [p[REPEATABLE]] : []);
}

function addValue(out: Params, k: string, v: string): OAuthError | null {
  if (!(k in out)) {
    out[k] = v;
    return null;
  }
  if (k !== REPEATABLE) return new InvalidRequestError(`Parameter '${safeName(k)}' was given more than once`);
  const list = repeated.get(out);
  if (list) list.push(v);
  else repeated.set(out, [out[k]!, v]);
  return null;
}

/**
 * The parameters as a query string, every `resource` value included (`new URLSearchParams(p)`
 * would keep only the first).
 */
export function toQuery(p: Params): string {
  const q = new URLSearchParams(p);
  const all = repeated.get(p);
  if (all) {
    q.delete(REPEATABLE);
    for (const v of all) q.append(REPEATABLE, v);
  }
  return q.toString();
}

/**
 * Parses `a=1&b=2` (form-url-encoded); a repeated name is `invalid_request`, and a parameter sent
 * without a value is left out, as if it had been omitted (RFC 6749 section 3.1).
 */
export function parseParams(text: string): Params | OAuthError {
  const out: Params = Object.create(null);
  const end = text.length;
  let start = 0;
  // Same result as iterating URLSearchParams (empty pairs skipped, '+' is a space, malformed
  // percent escapes kept as they are), without building its intermediate list.
  while (start < end) {
    let amp = text.indexOf('&', start);
    if (amp === -1) amp = end;
    if (amp > start) {
      let eq = text.indexOf('=', start);
      if (eq === -1 || eq > amp) eq = amp;
      const k = unescapeForm(text.slice(start, eq));
      const v = eq === amp ? '' : unescapeForm(text.slice(eq + 1, amp));
      // RFC 6749 section 3.1: "Parameters sent without a value MUST be treated as if they were
      // omitted from the request."
      if (v !== '') {
        const refused = addValue(out, k, v);
        if (refused) return refused;
      }
    }
    start = amp + 1;
  }
  return out;
}

function unescapeForm(s: string): string {
  if (!s.includes('%') && !s.includes('+')) return s;
  const t = s.includes('+') ? s.replace(/\+/g, ' ') : s;
  try {
    return decodeURIComponent(t);
  } catch {
    return lenientUnescape(t);
  }
}

/** What URLSearchParams does with malformed escapes: decodes the valid ones, keeps the rest. */
function lenientUnescape(s: string): string {
  return s.replace(/(%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return Buffer.from(run.replace(/%/g, ''), 'hex').toString('utf8');
    }
  });
}

/**
 * A parameter name as quoted in an error description: at most 40 characters, each from a closed
 * set (printable ASCII without quotes, backslash and space); anything else becomes `?`. The name
 * comes from the request, so nothing of it reaches a header or a page unfiltered.
 */
export function safeName(name: string): string {
  const cut = name.length > 40 ? name.slice(0, 40) : name;
  const clean = cut.replace(/[^\x21\x23-\x26\x28-\x5b\x5d-\x7e]/g, '?');
  return cut === name ? clean : `${clean}...`;
}

/** First value of a header, or undefined. */
export function header(req: OAuthRequest, name: string): string | undefined {
  const v = req.headers[name];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v[0];
}

/** `true` when the request carries a form-url-encoded body. */
export function isForm(req: OAuthRequest): boolean {
  const ct = header(req, 'content-type');
  if (!ct) return false;
  const semi = ct.indexOf(';');
  return (semi === -1 ? ct : ct.slice(0, semi)).trim().toLowerCase() === FORM_TYPE;
}

/** The query string of the request URL (without `?`). */
export function queryOf(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return '';
  const h = url.indexOf('#', q);
  return h === -1 ? url.slice(q + 1) : url.slice(q + 1, h);
}

/** The path of the request URL. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** The form body of a request, refusing repeats and non-string values. */
export function formBody(req: OAuthRequest): Params | OAuthError {
  if (req.body !== undefined) return parseParams(req.body);
  const parsed = req.parsedBody;
  const out: Params = Object.create(null);
  if (!parsed) return out;
  for (const k of Object.keys(parsed)) {
    const v = parsed[k];
    if (typeof v === 'string') {
      if (v !== '') out[k] = v; // sent without a value: omitted (RFC 6749 section 3.1)
    } else if (Array.isArray(v)) {
      const given = v.filter((x) => x !== '');
      if (k === REPEATABLE) {
        if (given.some((x) => typeof x !== 'string')) return new InvalidRequestError(`Parameter '${safeName(k)}' is malformed`);
        for (const x of given) addValue(out, k, x as string);
      } else {
        if (given.length > 1 || given.some((x) => typeof x !== 'string')) {
          return new InvalidRequestError(`Parameter '${safeName(k)}' was given more than once`);
        }
        if (given.length === 1) out[k] = given[0] as string;
      }
    } else return new InvalidRequestError(`Parameter '${safeName(k)}' is malformed`);
  }
  return out;
}

/** Decodes `application/x-www-form-urlencoded` text (RFC 6749 appendix B: `+` is a space). */
function formDecode(s: string): string | null {
  if (!s.includes('%') && !s.includes('+')) return s;
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return null;
  }
}

/** Basic client credentials: as form-url-decoded (RFC 6749 2.3.1), and exactly as sent. */
export interface BasicCredentials {
  /** The client id, form-url-decoded; `null` when it is not valid form encoding. */
  readonly id: string | null;
  /** The secret, form-url-decoded; `null` when it is not valid form encoding. */
  readonly secret: string | null;
  /** The id as it stood in the header, for clients that skip the form encoding. */
  readonly rawId: string;
  /** The secret as it stood in the header. */
  readonly rawSecret: string;
}

// token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" (RFC 7235); Basic uses base64.
const BASE64 = /^[A-Za-z0-9+/]+=*$/;
// An auth-scheme is an HTTP token (RFC 7230 section 3.2.6).
const SCHEME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

/**
 * Parses HTTP Basic client credentials. Per RFC 6749 section 2.3.1 the id and secret are each
 * form-url-encoded before being joined, so they are decoded here (the raw forms are kept for the
 * opt-in lenient mode). A header naming the Basic scheme must be well-formed: `Basic`, one or more
 * spaces, Base64 of `id:secret` with a non-empty id; anything else (empty, tab separator, bad
 * Base64, no colon) is 401 `invalid_client` with `WWW-Authenticate: Basic`.
 * @returns `null` when there is no Basic header (none, or another scheme), the credentials, or an error.
 */
export function basicCredentials(req: OAuthRequest): BasicCredentials | null | OAuthError {
  const auth = header(req, 'authorization');
  if (auth === undefined) return null;
  const scheme = SCHEME.exec(auth)?.[0];
  if (scheme === undefined || scheme.toLowerCase() !== 'basic') return null;
  const rest = auth.slice(scheme.length);
  if (!rest.startsWith(' ')) return basicError('Malformed Basic credentials');
  // One or more spaces after the scheme, and any number at the end, are not part of the credentials.
  let from = 1;
  while (rest.charCodeAt(from) === 32) from++;
  let to = rest.length;
  while (to > from && rest.charCodeAt(to - 1) === 32) to--;
  const b64 = rest.slice(from, to);
  if (!BASE64.test(b64)) return basicError('Malformed Basic credentials');
  const raw = Buffer.from(b64, 'base64').toString('utf8');
  const colon = raw.indexOf(':');
  if (colon <= 0) return basicError('Malformed Basic credentials');
  const rawId = raw.slice(0, colon);
  const rawSecret = raw.slice(colon + 1);
  const id = formDecode(rawId);
  if (id === '') return basicError('Malformed Basic credentials');
  return { id, secret: formDecode(rawSecret), rawId, rawSecret };
}

function basicError(msg: string): OAuthError {
  return new InvalidClientError(msg, { headers: { 'WWW-Authenticate': 'Basic realm="oauth"' } });
}

// scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** Splits a space-delimited scope parameter (RFC 6749 section 3.3). `null` when malformed. */
export function splitScope(scope: string | undefined): string[] | null {
  if (scope === undefined || scope === '') return [];
  if (!scope.includes(' ')) return SCOPE_TOKEN.test(scope) ? [scope] : null;
  const parts = scope.split(' ');
  for (const p of parts) {
    // scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
    if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(p)) return null;
  }
  return [...new Set(parts)];
}
