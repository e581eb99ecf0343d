/** Errors of the admin API and the JSON responses they become. */
import { jsonResponse, type OAuthResponse } from '@portcullis/core';

/** Printable ASCII without `"` and `\` (RFC 6749 section 5.2); everything else is dropped. */
export function cleanText(text: string, max = 512): string {
  return text.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '').slice(0, max);
}

/** An error answered as `{ error, error_description }` with its status. */
export class AdminError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    description: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(cleanText(description));
    this.name = 'AdminError';
  }

  /** The JSON response. */
  response(): OAuthResponse {
    return jsonResponse(this.status, { error: cleanText(this.error, 64), error_description: this.message }, this.headers);
  }
}
