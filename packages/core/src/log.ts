/** Where core logs, and how it describes an error there. */

/** Where core logs. Messages never contain secrets or tokens. */
export interface Logger {
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

/** Error text for logs: the class and message of the cause chain, nothing from request data. */
export function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? ` <- ${err.cause.name}: ${err.cause.message}` : '';
    return `${err.name}: ${err.message}${cause}`;
  }
  return String(err);
}

/** Logs to the console, prefixed `[portcullis]`. The default logger. */
export const consoleLogger: Logger = {
  warn: (m, meta) => console.warn(`[portcullis] ${m}`, meta ?? ''),
  error: (m, meta) => console.error(`[portcullis] ${m}`, meta ?? ''),
};
