/** Where core logs, and how it describes an error there. */

/** Where core logs. Messages never contain secrets or tokens. */
export interface Logger {
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

/**
 * Credentials in URLs (`scheme://user:password@host`) and `password=...` pairs, as drivers quote
 * connection strings in their errors.
 */
const URL_CREDENTIALS = /(\b[a-z][a-z0-9+.-]*:\/\/)([^\s/@:]*):([^\s/@]*)@/gi;
const PASSWORD_PAIRS = /\b(password|passwd|pwd|secret)=([^\s&;,]+)/gi;

/** `text` with credentials in URLs and `password=` pairs replaced by `***`. */
export function redactCredentials(text: string): string {
  return text.replace(URL_CREDENTIALS, '$1$2:***@').replace(PASSWORD_PAIRS, '$1=***');
}

/**
 * Error text for logs: the class and message of the cause chain, nothing from request data, and
 * no credentials a driver quoted from its connection string.
 */
export function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? ` <- ${err.cause.name}: ${err.cause.message}` : '';
    return redactCredentials(`${err.name}: ${err.message}${cause}`);
  }
  return redactCredentials(String(err));
}

/** Logs to the console, prefixed `[portcullis]`. The default logger. */
export const consoleLogger: Logger = {
  warn: (m, meta) => console.warn(`[portcullis] ${m}`, meta ?? ''),
  error: (m, meta) => console.error(`[portcullis] ${m}`, meta ?? ''),
};
