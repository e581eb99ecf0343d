/**
 * Generators of hostile HTTP requests for the adapter fuzz suite and the process-level crash test:
 * parameter names and values with control characters, CR/LF, NUL, non-Latin-1 text and lone
 * surrogates, names longer than 40 and 1000 characters, repeated names, malformed percent escapes,
 * odd Authorization headers, content types and methods. A `Spec` is plain data; `wireRequest` and
 * `fetchInit` turn it into bytes on a socket or a Fetch `Request`.
 */
import fc from 'fast-check';

/** What the test apps route (see `targets.ts`). */
export const ROUTES = {
  token: '/oauth/token',
  revoke: '/oauth/revoke',
  introspect: '/oauth/introspect',
  metadata: '/.well-known/oauth-authorization-server',
  authorize: '/oauth/authorize',
  /** `completeAuthorization` with the request's raw query string. */
  decide: '/oauth/decide',
  /** `requireOAuth(provider, 'read')` / `requireOAuthFetch(provider, 'read')`. */
  resource: '/api/me',
  /** `withOAuth(provider, ['read', 'write'], ...)`. */
  resourceWith: '/api/with',
} as const;
export type Route = keyof typeof ROUTES;

/** The two provider setups every request is tried on (see `targets.ts`). */
export type Variant = 'plain' | 'hooked';

/** How a name or value is written on the wire. */
export type Mode = 'encoded' | 'plus' | 'raw' | 'malformed';

export interface Pair {
  readonly name: string;
  readonly value: string;
  readonly mode: Mode;
  /** For `malformed`: the broken escape and where (modulo the length) it is put. */
  readonly junk: string;
  readonly junkAt: number;
}

export interface Spec {
  readonly variant: Variant;
  readonly route: Route;
  readonly method: string;
  /**
   * Starts from a valid request for the route (see `baseParams`), so that hostile input also
   * reaches the grants, scope checks and redirects instead of stopping at the first check.
   */
  readonly base: boolean;
  /** Replaces the value of one base parameter (index modulo their number) with a hostile one. */
  readonly override: readonly [number, string] | null;
  readonly query: readonly Pair[];
  /** The form body; `null` sends no body. */
  readonly body: readonly Pair[] | null;
  /** Index (modulo the list length) of a body pair sent a second time with another value. */
  readonly duplicate: number | null;
  /** Same for the query string. */
  readonly duplicateQuery: number | null;
  /** Appends a parameter of 70,000 characters (more than the adapters' 64 KiB default limit). */
  readonly pad: boolean;
  readonly contentType: string | null;
  /** Zero, one or two Authorization headers. */
  readonly authorization: readonly string[];
}

/** The confidential client of `makeProvider` in `../helpers.ts`. */
export const CLIENT_ID = 'conf';

/** Characters that break headers, JSON, quoting or form parsing. */
const NASTY = [
  '\r',
  '\n',
  '\r\n',
  '\0',
  '\t',
  '\v',
  '\f',
  '\b',
  '\x1b',
  '\x7f',
  '"',
  '\\',
  "'",
  ' ',
  '%',
  '&',
  '=',
  '+',
  ';',
  ',',
  '#',
  '?',
  '\u0085',
  '\u00a0',
  '\u00e9',
  '\u00ff',
  '\u0100',
  '\u2028',
  '\u2029',
  '\u202e',
  '\ufeff',
  '\ufffd',
  '\u4e2d',
  '\ud83d\ude00',
  '\ud800',
  '\udfff',
];
export const nastyChar = fc.constantFrom(...NASTY);
const asciiChar = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
const controlChar = fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c));
const anyChar = fc.oneof(
  { weight: 3, arbitrary: asciiChar },
  { weight: 3, arbitrary: nastyChar },
  { weight: 1, arbitrary: controlChar },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
);

const KNOWN_NAMES = [
  'grant_type',
  'client_id',
  'client_secret',
  'scope',
  'code',
  'redirect_uri',
  'code_verifier',
  'refresh_token',
  'username',
  'password',
  'token',
  'token_type_hint',
  'access_token',
  'response_type',
  'state',
  'code_challenge',
  'code_challenge_method',
  '__proto__',
  'constructor',
  'hasOwnProperty',
  'toString',
  'a[b]',
  'a[]',
  '',
];

/** A name made of `base` repeated to `length`, with the nasty characters spliced in. */
export function longText(length: number, base: string, inserts: readonly (readonly [number, string])[]): string {
  const chars = Array.from({ length }, () => base);
  for (const [at, c] of inserts) chars[at % length] = c;
  return chars.join('');
}

/** Longer than 40 characters (where the old `safeName` stopped cleaning), or than 1000. */
const longString = fc
  .record({
    length: fc.oneof(fc.integer({ min: 41, max: 90 }), fc.integer({ min: 1001, max: 1200 })),
    base: fc.constantFrom('a', 'b', 'x', '_', 'é'),
    inserts: fc.array(fc.tuple(fc.nat(), nastyChar), { minLength: 1, maxLength: 3 }),
  })
  .map(({ length, base, inserts }) => longText(length, base, inserts));

export const paramName: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...KNOWN_NAMES) },
  { weight: 3, arbitrary: fc.string({ unit: anyChar, maxLength: 40 }) },
  { weight: 3, arbitrary: longString },
);

/** In a parameter value: the real token with scope `read`, with `read write`, the secret of `conf`. */
export const TOKEN_READ = '<token-read>';
export const TOKEN_READ_WRITE = '<token-read-write>';
export const CLIENT_SECRET = '<client-secret>';
/** A fresh authorization code of `conf` (for `https://app.example/cb`), its PKCE verifier and challenge. */
export const CODE = '<code>';
export const VERIFIER = '<verifier>';
export const CHALLENGE = '<challenge>';
/** A fresh refresh token of `conf` (scopes `read write`). */
export const REFRESH = '<refresh>';

export const paramValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('client_credentials', 'authorization_code', 'refresh_token', 'password', 'implicit', 'code') },
  { weight: 2, arbitrary: fc.constantFrom('read', 'read write', 'admin', 'unknown', 'read  write', ' read', 'r"ead', 'r\\ead') },
  { weight: 2, arbitrary: fc.constantFrom(CLIENT_ID, 'pub', 'other', 'https://app.example/cb', 'S256', 'plain', 'alice', 'access_token') },
  { weight: 1, arbitrary: fc.constantFrom(TOKEN_READ, TOKEN_READ_WRITE, CLIENT_SECRET, CODE, VERIFIER, CHALLENGE, REFRESH) },
  { weight: 3, arbitrary: fc.string({ unit: anyChar, maxLength: 40 }) },
  { weight: 1, arbitrary: longString },
);

const JUNK = [
  '%',
  '%Z',
  '%G0',
  '%0',
  '%E0%A4',
  '%C3',
  '%ED%A0%80',
  '%FF',
  '%00',
  '%0D',
  '%0A',
  '%0D%0A',
  '%%',
  '%2',
  '%u0041',
  '%C0%AF',
  '%22',
];

export const pair: fc.Arbitrary<Pair> = fc.record({
  name: paramName,
  value: paramValue,
  mode: fc.constantFrom<Mode>('encoded', 'encoded', 'plus', 'raw', 'malformed'),
  junk: fc.constantFrom(...JUNK),
  junkAt: fc.nat(),
});

// ---------------------------------------------------------------- headers

const latin1High = fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c));
/** Characters Node's HTTP parser lets through in a header value: tab, visible ASCII and space, obs-text. */
const headerChar = fc.oneof(
  { weight: 6, arbitrary: asciiChar },
  { weight: 2, arbitrary: latin1High },
  { weight: 1, arbitrary: fc.constant('\t') },
);
const headerJunk = fc.string({ unit: headerChar, maxLength: 60 });

/** Base64 of bytes (Latin-1 string as bytes), so invalid UTF-8 is possible. */
const b64 = (bytes: string) => Buffer.from(bytes, 'latin1').toString('base64');
const b64utf8 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/** Valid Basic credentials for `conf` (filled in by the targets: the secret is theirs). */
export const VALID_BASIC = '<valid-basic>';
/** A valid bearer token with scope `read` (filled in by the targets). */
export const VALID_BEARER = '<valid-bearer>';
/** A valid bearer token with scopes `read write` (filled in by the targets). */
export const VALID_BEARER_RW = '<valid-bearer-rw>';

const credentialText = fc.oneof(fc.constantFrom(CLIENT_ID, 'pub', 'nobody', ''), fc.string({ unit: anyChar, maxLength: 30 }), longString);

export const authorization: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '',
      ' ',
      'Basic',
      'Basic ',
      'Basic  ',
      'basic Y29uZjp4',
      'BASIC Y29uZjp4',
      'Basic\tY29uZjp4',
      'Basic  Y29uZjp4  ',
      'Basic ====',
      'Basic =',
      'Basic a',
      'Basic Y29uZg',
      'Basic Og==',
      'Basic OnNlY3JldA==',
      'Basic Y29uZg==',
      'Basic Y29uZjp4 extra',
      'Basic Y29u Zjp4',
      'Basic ,Y29uZjp4',
      'Bearer',
      'Bearer ',
      'Bearer\tabc',
      'Bearer  abc',
      'Bearer a b',
      'Bearer "abc"',
      'Bearer abc,',
      'Bearer ===',
      'Bearer abc=def',
      'bearer abc',
      'Digest username="a", realm="b"',
      'Negotiate YII=',
      'DPoP abc',
      'Token abc',
      'MAC id="a"',
      'Basic=Y29uZjp4',
      ',',
    ),
  },
  { weight: 2, arbitrary: fc.constantFrom(VALID_BASIC, VALID_BEARER, VALID_BEARER_RW) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom('Basic', 'Bearer', 'basic', 'bearer', 'Other', ''), fc.constantFrom(' ', '\t', '  ', '\t ', ''), headerJunk)
      .map(([scheme, sep, rest]) => `${scheme}${sep}${rest}`),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(credentialText, fc.option(credentialText, { nil: undefined }))
      .map(([id, secret]) => `Basic ${b64utf8(secret === undefined ? id : `${id}:${secret}`)}`),
  },
  {
    weight: 1,
    arbitrary: fc
      .string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 30 })
      .map((s) => `Basic ${b64(s)}`),
  },
);

export const contentType: fc.Arbitrary<string | null> = fc.oneof(
  { weight: 5, arbitrary: fc.constant('application/x-www-form-urlencoded') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'application/x-www-form-urlencoded; charset=UTF-8',
      'application/x-www-form-urlencoded;charset=utf-8',
      'application/x-www-form-urlencoded; charset=iso-8859-1',
      'application/x-www-form-urlencoded; charset=utf-16',
      'APPLICATION/X-WWW-FORM-URLENCODED',
      'application/x-www-form-urlencoded ;',
    ),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      null,
      'application/x-www-form-urlencodedx',
      'application/x-www-form-urlencoded, application/json',
      'application/json',
      'multipart/form-data; boundary=xyz',
      'text/plain',
      '',
      ';',
      'form',
    ),
  },
);

/** Methods both Node's HTTP parser and Fetch accept (Fetch forbids CONNECT, TRACE and TRACK). */
export const method: fc.Arbitrary<string> = fc.oneof(
  { weight: 9, arbitrary: fc.constant('POST') },
  { weight: 3, arbitrary: fc.constant('GET') },
  { weight: 2, arbitrary: fc.constantFrom('HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'PROPFIND') },
);

export const route: fc.Arbitrary<Route> = fc.constantFrom<Route>(
  'token',
  'token',
  'token',
  'revoke',
  'introspect',
  'metadata',
  'authorize',
  'authorize',
  'decide',
  'resource',
  'resource',
  'resourceWith',
);

/** `null` `odds` times out of `odds + 1`, else a value; shrinks to `null`. */
function sometimes<T>(arb: fc.Arbitrary<T>, odds: number): fc.Arbitrary<T | null> {
  return fc.oneof({ weight: odds, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });
}

export const spec: fc.Arbitrary<Spec> = fc.record({
  variant: fc.constantFrom<Variant>('plain', 'hooked'),
  route,
  method,
  base: fc.boolean(),
  override: sometimes(fc.tuple(fc.nat(), paramValue), 1),
  query: fc.array(pair, { maxLength: 4 }),
  body: fc.option(fc.array(pair, { maxLength: 6 }), { freq: 5, nil: null }),
  duplicate: sometimes(fc.nat(), 3),
  duplicateQuery: sometimes(fc.nat(), 5),
  // One request in ten, shrinking to none.
  pad: fc.integer({ min: 0, max: 9 }).map((n) => n === 9),
  contentType,
  authorization: fc.oneof(
    { weight: 3, arbitrary: fc.constant([]) },
    { weight: 2, arbitrary: fc.constantFrom(VALID_BASIC, VALID_BEARER, VALID_BEARER_RW).map((a) => [a]) },
    { weight: 4, arbitrary: fc.array(authorization, { minLength: 1, maxLength: 2 }) },
  ),
});

/** The parameters of a valid request for each route (markers stand for real codes and tokens). */
function baseParams(s: Spec): [string, string][] {
  const clientAuth: [string, string][] =
    s.authorization.length === 0
      ? [
          ['client_id', CLIENT_ID],
          ['client_secret', CLIENT_SECRET],
        ]
      : [];
  const authorize: [string, string][] = [
    ['response_type', 'code'],
    ['client_id', CLIENT_ID],
    ['redirect_uri', 'https://app.example/cb'],
    ['scope', 'read write'],
    ['state', 's-1'],
    ['code_challenge', CHALLENGE],
    ['code_challenge_method', 'S256'],
  ];
  switch (s.route) {
    case 'token': {
      const grants: [string, string][][] = [
        [
          ['grant_type', 'client_credentials'],
          ['scope', 'read'],
        ],
        [
          ['grant_type', 'authorization_code'],
          ['code', CODE],
          ['redirect_uri', 'https://app.example/cb'],
          ['code_verifier', VERIFIER],
        ],
        [
          ['grant_type', 'refresh_token'],
          ['refresh_token', REFRESH],
          ['scope', 'read'],
        ],
        [
          ['grant_type', 'password'],
          ['username', 'alice'],
          ['password', 'correct horse'],
          ['scope', 'read'],
        ],
      ];
      // The override index picks the grant too, so that one shrinks with the other.
      return [...grants[(s.override?.[0] ?? 0) % grants.length]!, ...clientAuth];
    }
    case 'revoke':
      return [['token', TOKEN_READ], ['token_type_hint', 'access_token'], ...clientAuth];
    case 'introspect':
      return [['token', TOKEN_READ_WRITE], ...clientAuth];
    case 'authorize':
    case 'decide':
      return authorize;
    case 'resource':
    case 'resourceWith':
      return s.authorization.length === 0 ? [['access_token', TOKEN_READ_WRITE]] : [];
    case 'metadata':
      return [];
  }
}

/** Where the base parameters go: the query string for GET and HEAD (and always for `decide`), else the body. */
function baseInQuery(s: Spec): boolean {
  return s.route === 'decide' || s.method === 'GET' || s.method === 'HEAD';
}

/** The base parameters as pairs, with the override applied. */
function basePairs(s: Spec): Pair[] {
  if (!s.base) return [];
  const params = baseParams(s);
  if (s.override && params.length > 0) {
    const i = s.override[0] % params.length;
    params[i] = [params[i]![0], s.override[1]];
  }
  return params.map(([name, value]) => plainPair(name, value));
}

function queryPairs(s: Spec): Pair[] {
  return withDuplicate([...(baseInQuery(s) ? basePairs(s) : []), ...s.query], s.duplicateQuery);
}

function bodyPairs(s: Spec): Pair[] | null {
  const base = baseInQuery(s) ? [] : basePairs(s);
  if (s.body === null && base.length === 0) return null;
  return withDuplicate([...base, ...(s.body ?? [])], s.duplicate);
}

// ---------------------------------------------------------------- the reproduction

/** The name of the reported crash: 30 `a`, CR, 24 `b` (55 characters, past the 40 `safeName` cleaned). */
export const CRASH_NAME = `${'a'.repeat(30)}\r${'b'.repeat(24)}`;

function plainPair(name: string, value: string): Pair {
  return { name, value, mode: 'encoded', junk: '%', junkAt: 0 };
}

/** The reported reproduction, as a `Spec`: the CR name twice in a form body (or query string). */
export function crashSpec(route: Route, where: 'body' | 'query', variant: Variant = 'plain', extra: Partial<Spec> = {}): Spec {
  const twice = [plainPair(CRASH_NAME, '1'), plainPair(CRASH_NAME, '2')];
  const query = where === 'query' ? [plainPair('access_token', 'x'), ...twice] : [];
  return {
    variant,
    route,
    method: where === 'body' ? 'POST' : 'GET',
    query,
    body: where === 'body' ? twice : null,
    duplicate: null,
    duplicateQuery: null,
    pad: false,
    contentType: where === 'body' ? 'application/x-www-form-urlencoded' : null,
    authorization: [],
    base: false,
    override: null,
    ...extra,
  };
}

/** Hand-picked cases, tried on every run before the generated ones: the reproduction and its neighbours. */
export function knownCases(): Spec[] {
  const out: Spec[] = [];
  for (const variant of ['plain', 'hooked'] as const) {
    for (const r of ['resource', 'resourceWith', 'token', 'revoke', 'introspect', 'authorize', 'decide'] as const) {
      out.push(crashSpec(r, 'body', variant), crashSpec(r, 'query', variant));
    }
    // A name over 1000 characters with LF and NUL, a short one with CR, a non-Latin-1 one, long
    // names of Latin-1 (Node writes it, but as bytes outside ASCII) and of CJK (Fetch refuses it).
    // The last is quotes and a backslash, which must not end the quoted-string early.
    for (const name of [
      longText(1100, 'x', [
        [7, '\n'],
        [900, '\0'],
      ]),
      'a\rb',
      '\u4e2d\u6587\ud800',
      longText(50, '\u00e9', [[3, '\u00ff']]),
      longText(50, '\u4e2d', [[3, '\ud83d\ude00']]),
      `${'"'.repeat(45)}\\`,
    ]) {
      out.push({ ...crashSpec('resource', 'body', variant), body: [plainPair(name, '1'), plainPair(name, '2')] });
      out.push({ ...crashSpec('token', 'body', variant), body: [plainPair(name, '1'), plainPair(name, '2')] });
    }
    // `a[b]` parses to an object with Express's extended parser ("malformed" parameter).
    out.push({ ...crashSpec('resource', 'body', variant), body: [plainPair(`${CRASH_NAME}[x]`, '1')] });
  }
  return out;
}

// ---------------------------------------------------------------- encoding

/** Percent-encodes UTF-8 bytes except unreserved characters (lone surrogates become U+FFFD). */
function percentEncode(s: string, plus: boolean): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(c)) out += c;
    else if (plus && byte === 0x20) out += '+';
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Writes a name or value for a form body: raw text goes out as its UTF-8 bytes, unencoded. */
function bodyPart(s: string, p: Pair): string {
  switch (p.mode) {
    case 'encoded':
      return percentEncode(s, false);
    case 'plus':
      return percentEncode(s, true);
    case 'raw':
      return s;
    case 'malformed': {
      const e = percentEncode(s, false);
      const at = e.length === 0 ? 0 : p.junkAt % (e.length + 1);
      return e.slice(0, at) + p.junk + e.slice(at);
    }
  }
}

/** The same for a URL: Node's parser takes only visible ASCII there, so anything else is escaped. */
function urlPart(s: string, p: Pair): string {
  const text = bodyPart(s, p);
  return p.mode === 'raw' ? text.replace(/[^\x21-\x7e]|#/gu, (c) => percentEncode(c, false)) : text;
}

function withDuplicate(pairs: readonly Pair[], dup: number | null): Pair[] {
  if (dup === null || pairs.length === 0) return [...pairs];
  const p = pairs[dup % pairs.length]!;
  return [...pairs, { ...p, value: `${p.value}2` }];
}

/** Values a target knows and the generator does not: real credentials and tokens. */
export interface Tokens {
  readonly basic: string;
  readonly secret: string;
  readonly read: string;
  readonly readWrite: string;
  readonly code: string;
  readonly verifier: string;
  readonly challenge: string;
  readonly refresh: string;
}

/** Puts the real credentials in place of the markers. */
function substitute(s: string, tokens: Tokens): string {
  switch (s) {
    case CODE:
      return tokens.code;
    case VERIFIER:
      return tokens.verifier;
    case CHALLENGE:
      return tokens.challenge;
    case REFRESH:
      return tokens.refresh;
    case VALID_BEARER:
      return `Bearer ${tokens.read}`;
    case VALID_BEARER_RW:
      return `Bearer ${tokens.readWrite}`;
    case VALID_BASIC:
      return tokens.basic;
    case TOKEN_READ:
      return tokens.read;
    case TOKEN_READ_WRITE:
      return tokens.readWrite;
    case CLIENT_SECRET:
      return tokens.secret;
    default:
      return s;
  }
}

/** Path and query string (visible ASCII only); `path` replaces the route's own. */
export function target(s: Spec, tokens: Tokens, path: string = ROUTES[s.route]): string {
  const pairs = queryPairs(s);
  if (pairs.length === 0) return path;
  return `${path}?${pairs.map((p) => `${urlPart(substitute(p.name, tokens), p)}=${urlPart(substitute(p.value, tokens), p)}`).join('&')}`;
}

/** The body bytes, or `null`. */
export function bodyBytes(s: Spec, tokens: Tokens): Buffer | null {
  const pairs = bodyPairs(s);
  if (pairs === null && !s.pad) return null;
  const parts = (pairs ?? []).map((p) => `${bodyPart(substitute(p.name, tokens), p)}=${bodyPart(substitute(p.value, tokens), p)}`);
  if (s.pad) parts.push(`pad=${'x'.repeat(70_000)}`);
  return Buffer.from(parts.join('&'), 'utf8');
}

/** Header name/value pairs (values as Latin-1 text: one character per byte). */
export function headerList(s: Spec, tokens: Tokens): [string, string][] {
  const out: [string, string][] = [];
  if (s.contentType !== null) out.push(['Content-Type', s.contentType]);
  for (const a of s.authorization) out.push(['Authorization', substitute(a, tokens)]);
  return out;
}

/** A one-line description of a spec for failure messages (escapes everything unprintable). */
export function describeSpec(s: Spec, tokens: Tokens, path?: string): string {
  const body = bodyBytes(s, tokens);
  const shownBody =
    body === null
      ? 'none'
      : JSON.stringify(body.length > 400 ? `${body.toString('latin1', 0, 400)}...(${body.length} bytes)` : body.toString('latin1'));
  return `${s.variant} ${s.method} ${JSON.stringify(target(s, tokens, path).slice(0, 600))} headers=${JSON.stringify(headerList(s, tokens))} body=${shownBody}`;
}
