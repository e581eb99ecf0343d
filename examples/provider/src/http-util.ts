import type { IncomingMessage, ServerResponse } from 'node:http';
import { toOAuthRequest } from '@portcullis/core';

/** Headers every response carries (pages and JSON alike). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
};

/** Sends an HTML page; pages are never cached. */
export function sendHtml(res: ServerResponse, status: number, page: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(page);
}

/** Sends JSON. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

/** 303 See Other (after a form) or 302. */
export function redirect(res: ServerResponse, location: string, status = 303): void {
  res.writeHead(status, { Location: location, 'Cache-Control': 'no-store' });
  res.end();
}

/** Adds a `Set-Cookie` value without dropping others set before. */
export function addCookie(res: ServerResponse, cookie: string): void {
  const prev = res.getHeader('Set-Cookie');
  const list = prev === undefined ? [] : Array.isArray(prev) ? prev : [String(prev)];
  res.setHeader('Set-Cookie', [...list, cookie]);
}

/**
 * Reads a form body through core's node adapter (which caps its size). A body of another type,
 * too large or unreadable gives no fields (so a CSRF check on it fails).
 */
export async function readForm(req: IncomingMessage, bodyLimit = 16 * 1024): Promise<URLSearchParams> {
  try {
    const oreq = await toOAuthRequest(req, { bodyLimit });
    return new URLSearchParams(typeof oreq.body === 'string' ? oreq.body : '');
  } catch {
    return new URLSearchParams();
  }
}

/** The path and the query of a request URL. */
export function splitUrl(url: string | undefined): { path: string; query: URLSearchParams } {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q === -1 ? { path: u, query: new URLSearchParams() } : { path: u.slice(0, q), query: new URLSearchParams(u.slice(q + 1)) };
}
