/**
 * The device demo client (`pnpm --filter @portcullis/example-provider device-demo`): what a TV or a
 * command-line tool does in the device authorization grant (RFC 8628). It asks the provider for a
 * device code, prints the user code and where to type it, and polls the token endpoint, waiting
 * `interval` seconds between polls and 5 more after each `slow_down`, until the user decides, the
 * code expires or `--timeout` is over. Then it prints the token response.
 *
 * The client secret of a confidential client is read from `DEVICE_CLIENT_SECRET` (never a flag,
 * which other users could read in the process list) and never printed.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

/** Options of `runDeviceFlow`. */
export interface DeviceFlowOptions {
  /** The provider's URL; the endpoints are read from its metadata (RFC 8414). */
  readonly issuer: string;
  readonly clientId: string;
  /** A confidential client's secret (sent with HTTP Basic), or `null` for a public client. */
  readonly clientSecret: string | null;
  /** Scopes to ask for (space-separated); omitted: the client's default scopes. */
  readonly scope?: string;
  /** Most seconds to wait for the user, whatever `expires_in` says. */
  readonly timeoutSeconds: number;
  /** Where the lines for the user go. */
  readonly print: (line: string) => void;
}

/** How the flow ended. */
export type DeviceFlowResult =
  | { readonly ok: true; readonly tokens: Record<string, unknown>; readonly polls: number }
  | { readonly ok: false; readonly error: string; readonly description: string | null; readonly polls: number };

/** Hard limit on token requests, besides the deadline. */
const MAX_POLLS = 1000;
/** Longest wait the client accepts from `interval` or `Retry-After`, in seconds. */
const MAX_WAIT = 60;

/** Text from the server made safe for a terminal: control characters (escape sequences) removed, length bounded. */
export function printable(v: unknown, max = 500): string {
  let out = '';
  for (const ch of String(v)) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) continue;
    out += ch;
    if (out.length >= max) break;
  }
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function readJson(r: Response): Promise<Record<string, unknown>> {
  const text = await r.text();
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function seconds(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.min(v, MAX_WAIT) : fallback;
}

/**
 * Runs the device flow against a provider: device authorization request, then polling until the
 * user decides. Bounded by the code's `expires_in`, `timeoutSeconds` and `MAX_POLLS`.
 */
export async function runDeviceFlow(o: DeviceFlowOptions): Promise<DeviceFlowResult> {
  const base = o.issuer.replace(/\/$/, '');
  const meta = await readJson(await fetch(`${base}/.well-known/oauth-authorization-server`));
  const deviceEndpoint = meta.device_authorization_endpoint;
  const tokenEndpoint = meta.token_endpoint;
  if (typeof deviceEndpoint !== 'string' || typeof tokenEndpoint !== 'string') {
    return { ok: false, error: 'unsupported', description: 'The provider does not offer the device grant (see GRANTS).', polls: 0 };
  }
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  const auth: Record<string, string> = {};
  if (o.clientSecret !== null) {
    // RFC 6749 section 2.3.1: both parts form-encoded before Base64.
    const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
    headers.authorization = `Basic ${Buffer.from(`${enc(o.clientId)}:${enc(o.clientSecret)}`).toString('base64')}`;
  } else {
    auth.client_id = o.clientId;
  }
  const post = (url: string, fields: Record<string, string>) =>
    fetch(url, { method: 'POST', headers, body: new URLSearchParams({ ...auth, ...fields }).toString() });

  const started = await post(deviceEndpoint, o.scope ? { scope: o.scope } : {});
  const d = await readJson(started);
  if (!started.ok || typeof d.device_code !== 'string') {
    return {
      ok: false,
      error: printable(d.error ?? `http_${started.status}`),
      description: d.error_description ? printable(d.error_description) : null,
      polls: 0,
    };
  }
  const expiresIn = typeof d.expires_in === 'number' && Number.isFinite(d.expires_in) && d.expires_in > 0 ? d.expires_in : 600;
  let interval = seconds(d.interval, 5);
  const deadline = Date.now() + Math.min(expiresIn, o.timeoutSeconds) * 1000;
  o.print(`To sign in, open ${printable(d.verification_uri)} and enter the code: ${printable(d.user_code, 32)}`);
  if (typeof d.verification_uri_complete === 'string') o.print(`Or open: ${printable(d.verification_uri_complete)}`);
  o.print(`Waiting for approval (polling every ${interval} s, for at most ${Math.round((deadline - Date.now()) / 1000)} s)...`);

  let polls = 0;
  while (polls < MAX_POLLS) {
    if (Date.now() + interval * 1000 > deadline) break;
    await sleep(interval * 1000);
    polls++;
    const r = await post(tokenEndpoint, { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: d.device_code });
    const body = await readJson(r);
    if (r.ok && typeof body.access_token === 'string') return { ok: true, tokens: body, polls };
    const error = typeof body.error === 'string' ? body.error : `http_${r.status}`;
    if (error === 'authorization_pending') continue;
    if (error === 'slow_down') {
      interval = Math.min(interval + 5, MAX_WAIT);
      o.print(`slow_down: polling every ${interval} s from now on`);
      continue;
    }
    if (r.status === 429 || r.status === 503) {
      // Rate limited or briefly unavailable: wait as told (bounded), then go on polling.
      const retry = seconds(Number(r.headers.get('retry-after')), interval);
      o.print(`${printable(error)}: waiting ${retry} s`);
      if (Date.now() + retry * 1000 > deadline) break;
      await sleep(retry * 1000);
      continue;
    }
    return {
      ok: false,
      error: printable(error),
      description: typeof body.error_description === 'string' ? printable(body.error_description) : null,
      polls,
    };
  }
  return { ok: false, error: 'timeout', description: 'Gave up waiting: the code expired or --timeout is over.', polls };
}

const USAGE = `Usage: pnpm device-demo [--issuer <url>] [--client-id <id>] [--scope "<scopes>"] [--timeout <seconds>]
  --issuer     the provider (default http://127.0.0.1:$PORT, PORT default 3000)
  --client-id  default demo-device (the public demo client); a confidential client's secret
               is read from the environment variable DEVICE_CLIENT_SECRET
  --scope      default: the client's default scopes
  --timeout    most seconds to wait for the user (default 300, at most the code's lifetime)`;

async function main(argv: string[]): Promise<number> {
  let values: { issuer?: string; 'client-id'?: string; scope?: string; timeout?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        issuer: { type: 'string' },
        'client-id': { type: 'string' },
        scope: { type: 'string' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const timeout = values.timeout === undefined ? 300 : Number(values.timeout);
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > 3600) {
    process.stderr.write('--timeout must be a whole number of seconds from 1 to 3600\n');
    return 2;
  }
  const secret = process.env.DEVICE_CLIENT_SECRET;
  const result = await runDeviceFlow({
    issuer: values.issuer ?? `http://127.0.0.1:${process.env.PORT ?? '3000'}`,
    clientId: values['client-id'] ?? 'demo-device',
    clientSecret: secret === undefined || secret === '' ? null : secret,
    ...(values.scope !== undefined ? { scope: values.scope } : {}),
    timeoutSeconds: timeout,
    print: (line) => process.stdout.write(`${line}\n`),
  });
  if (result.ok) {
    process.stdout.write(`Token response:\n${JSON.stringify(result.tokens, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(`Device flow failed: ${result.error}${result.description ? `: ${result.description}` : ''}\n`);
  return 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      // Connection errors and the like: the message only (it never holds the secret).
      process.stderr.write(`device-demo: ${printable((err as Error)?.message ?? err)}\n`);
      process.exitCode = 1;
    },
  );
}
