/**
 * The framework-neutral request and response every endpoint takes and returns. Adapters
 * (`node:http`/Express, Fetch) convert to and from these.
 */

/** A plain HTTP request. */
export interface OAuthRequest {
  /** Upper-case method, e.g. `POST`. */
  readonly method: string;
  /** Path and query, e.g. `/authorize?client_id=a`. */
  readonly url: string;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The raw body, when it has not been parsed by a framework. */
  readonly body?: string;
  /**
   * The body as a framework already parsed it (e.g. `express.urlencoded()`); used when `body`
   * is absent. Values that arrived twice should be arrays so duplicates can be refused.
   */
  readonly parsedBody?: Readonly<Record<string, unknown>>;
  /** The peer address, when the adapter knows it (for rate limits in hooks). Never trusted for auth. */
  readonly remoteAddress?: string;
}

/** A plain HTTP response. */
export interface OAuthResponse {
  status: number;
  headers: Record<string, string>;
  /** Serialized body (JSON or HTML or empty). */
  body: string;
}
