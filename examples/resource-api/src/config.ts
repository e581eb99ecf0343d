/** The API's settings, from the environment. */
export interface ApiConfig {
  /** `ISSUER`: the authorization server's issuer identifier (required). */
  readonly issuer: string;
  /** `AUDIENCE`: this API's resource identifier (RFC 8707), the `aud` its tokens must carry (required). */
  readonly audience: string;
  /** `HOST`, default `127.0.0.1`. */
  readonly host: string;
  /** `PORT`, default `4000`; `0` picks a free one. */
  readonly port: number;
}

/** Raised for a missing or malformed setting; the message names the variable, never a value. */
export class ConfigError extends Error {}

function httpUrl(env: Readonly<Record<string, string | undefined>>, name: string): string {
  const v = env[name]?.trim();
  if (!v) throw new ConfigError(`${name} is required`);
  // new URL() would silently drop tabs and line breaks: refuse every control character and space.
  if (v.length > 2048 || [...v].some((c) => c <= ' ' || c === '\x7f')) throw new ConfigError(`${name} must be an absolute http(s) URL`);
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new ConfigError(`${name} must be an absolute http(s) URL`);
  }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.hash !== '' || u.search !== '') {
    throw new ConfigError(`${name} must be an absolute http(s) URL without query or fragment`);
  }
  return v;
}

/** Reads `ISSUER`, `AUDIENCE`, `HOST` and `PORT`. @throws ConfigError */
export function parseConfig(env: Readonly<Record<string, string | undefined>> = process.env): ApiConfig {
  const portText = env.PORT?.trim() || '4000';
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
  if (!(port >= 0 && port <= 65535)) throw new ConfigError('PORT must be 0 to 65535');
  return { issuer: httpUrl(env, 'ISSUER'), audience: httpUrl(env, 'AUDIENCE'), host: env.HOST?.trim() || '127.0.0.1', port };
}
