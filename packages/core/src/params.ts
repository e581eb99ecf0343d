import { InvalidClientError, InvalidRequestError, type OAuthError } from './errors.js';
import type { OAuthRequest } from './http.js';

/** Request parameters: each name at most once (RFC 6749 section 3.1: no repeated parameters). */
export type Params = Record<string, string>;

const FORM_TYPE = 'application/x-www-form-urlencoded';

/** Parses `a=1&b=2` (form-url-encoded); a repeated name is `invalid_request`. */
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
      if (k in out) return new InvalidRequestError(`Parameter "${safeName(k)}" was given more than once`);
      out[k] = v;
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

function safeName(name: string): string {
  return name.length > 40 ? `${name.slice(0, 40)}...` : name.replace(/[^\x20-\x7e]/g, '?');
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
    if (typeof v === 'string') out[k] = v;
    else if (Array.isArray(v)) return new InvalidRequestError(`Parameter "${safeName(k)}" was given more than once`);
    else return new InvalidRequestError(`Parameter "${safeName(k)}" is malformed`);
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

/**
 * Parses HTTP Basic client credentials. Per RFC 6749 section 2.3.1 the id and secret are each
 * form-url-encoded before being joined, so they are decoded here.
 * @returns `null` when there is no Basic header, the credentials, or an error.
 */
export function basicCredentials(req: OAuthRequest): { id: string; secret: string } | null | OAuthError {
  const auth = header(req, 'authorization');
  if (!auth) return null;
  const sp = auth.indexOf(' ');
  if (sp === -1 || auth.slice(0, sp).toLowerCase() !== 'basic') return null;
  const b64 = auth.slice(sp + 1).trim();
  if (!/^[A-Za-z0-9+/]+=*$/.test(b64)) return basicError('Malformed Basic credentials');
  const raw = Buffer.from(b64, 'base64').toString('utf8');
  const colon = raw.indexOf(':');
  if (colon === -1) return basicError('Malformed Basic credentials');
  const id = formDecode(raw.slice(0, colon));
  const secret = formDecode(raw.slice(colon + 1));
  if (id === null || secret === null || id === '') return basicError('Malformed Basic credentials');
  return { id, secret };
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
