import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyTooLargeError, type OAuthRequest, toOAuthRequest } from '@portcullis/core';
import { errorPage } from './html.js';

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

/** Largest form body the app's own pages read (login, consent, logout, demo client). */
export const PAGE_FORM_LIMIT = 16 * 1024;

/**
 * `true` for core's `BodyTooLargeError`, recognized by its `code` too, so that an error from
 * another copy of core (or a wrapper) is still answered 413 and not 400 or 500.
 */
export function isBodyTooLarge(err: unknown): boolean {
  return (
    err instanceof BodyTooLargeError || (typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'BODY_TOO_LARGE')
  );
}

/**
 * Answers a request whose body could not be read: 413 when it was too large, else 400, as an
 * HTML page (`page`) or in the OAuth JSON error format (`json`). The connection is closed, since
 * the rest of the body was not read.
 */
export function sendBodyError(res: ServerResponse, err: unknown, as: 'page' | 'json'): void {
  const tooLarge = isBodyTooLarge(err);
  const status = tooLarge ? 413 : 400;
  const description = tooLarge ? 'The request body is too large' : 'The request body could not be read';
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.setHeader('Connection', 'close');
  if (as === 'json') sendJson(res, status, { error: 'invalid_request', error_description: description });
  else sendHtml(res, status, errorPage({ title: tooLarge ? 'Request too large' : 'Bad request', error: 'invalid_request', description }));
}

/**
 * Converts a request with core's node adapter, which reads a form body up to `bodyLimit` bytes
 * (core's default, 64 KiB, when omitted). `null` when the body could not be read; the answer
 * (413 when too large, else 400; a page or JSON as `as` says) has been sent.
 */
export async function readRequest(
  req: IncomingMessage,
  res: ServerResponse,
  as: 'page' | 'json',
  bodyLimit?: number,
): Promise<OAuthRequest | null> {
  try {
    return await toOAuthRequest(req, bodyLimit === undefined ? undefined : { bodyLimit });
  } catch (err) {
    sendBodyError(res, err, as);
    return null;
  }
}

/**
 * Reads the form posted to one of the app's pages (up to `PAGE_FORM_LIMIT`). A body of another
 * type gives no fields (so a CSRF check on it fails). `null` when the body could not be read: a
 * 413 or 400 page has been sent.
 */
export async function readForm(req: IncomingMessage, res: ServerResponse): Promise<URLSearchParams | null> {
  const oreq = await readRequest(req, res, 'page', PAGE_FORM_LIMIT);
  return oreq ? new URLSearchParams(typeof oreq.body === 'string' ? oreq.body : '') : null;
}

/** The path and the query of a request URL. */
export function splitUrl(url: string | undefined): { path: string; query: URLSearchParams } {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q === -1 ? { path: u, query: new URLSearchParams() } : { path: u.slice(0, q), query: new URLSearchParams(u.slice(q + 1)) };
}
