import type { Logger } from '@portcullis/core';

/** Receives one JSON log line (without the newline). */
export type LogSink = (line: string) => void;

/** Writes JSON lines to stdout. */
export const stdoutSink: LogSink = (line) => {
  process.stdout.write(`${line}\n`);
};

/** What is logged about each request: never the query string, body, cookies or headers. */
export interface RequestLogEntry {
  readonly method: string;
  /** The path only: query strings carry codes, states and tokens. */
  readonly path: string;
  readonly status: number;
  readonly durationMs: number;
  readonly clientId: string | null;
  readonly ip: string | null;
}

/** Structured logs, one JSON object per line. */
export interface AppLogger {
  request(entry: RequestLogEntry): void;
  info(msg: string, meta?: Record<string, unknown>): void;
  warn(msg: string, meta?: Record<string, unknown>): void;
  error(msg: string, meta?: Record<string, unknown>): void;
  /** The same logger in the shape core takes (core's messages never carry secrets). */
  readonly core: Logger;
}

/** Caps a logged string: a path is chosen by whoever sends the request. */
function cap(s: string, max = 200): string {
  return s.length > max ? `${s.slice(0, max)}...` : s;
}

/** The path of a request URL, without query or fragment. */
export function pathOnly(url: string): string {
  const cut = url.search(/[?#]/);
  return cap(cut === -1 ? url : url.slice(0, cut));
}

/** A logger writing JSON lines to `sink` (stdout by default). */
export function createLogger(sink: LogSink = stdoutSink): AppLogger {
  const write = (level: string, msg: string, meta?: Record<string, unknown>) => {
    sink(JSON.stringify({ time: new Date().toISOString(), level, msg, ...meta }));
  };
  return {
    request(e) {
      write('info', 'request', {
        method: e.method,
        path: e.path,
        status: e.status,
        durationMs: Math.round(e.durationMs * 10) / 10,
        ...(e.clientId !== null ? { clientId: cap(e.clientId) } : {}),
        ...(e.ip !== null ? { ip: e.ip } : {}),
      });
    },
    info: (m, meta) => write('info', m, meta),
    warn: (m, meta) => write('warn', m, meta),
    error: (m, meta) => write('error', m, meta),
    core: {
      warn: (m, meta) => write('warn', m, meta),
      error: (m, meta) => write('error', m, meta),
    },
  };
}

/** An error's class and message (and its cause's), never a stack or request data. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? ` <- ${err.cause.name}: ${err.cause.message}` : '';
    return `${err.name}: ${err.message}${cause}`;
  }
  return typeof err;
}
