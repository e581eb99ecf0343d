import type { Client, User } from '../contract.js';
import type { Engine } from '../engine.js';
import type { OAuthError } from '../errors.js';
import type { Params } from '../params.js';
import type { TokenResponseBody } from './issue.js';

/** What a grant hands back to the token endpoint. */
export interface Granted {
  body: TokenResponseBody;
  grantId: string;
  scopes: readonly string[];
  /** The user the tokens were issued for; `null` for client_credentials. */
  userId: string | null;
}

/** What the token endpoint established before the grant runs. */
export interface GrantContext {
  /** The key thumbprint of the request's valid DPoP proof (RFC 9449), or `null` without one. */
  readonly dpopJkt: string | null;
}

/** A grant type handler: checks the grant-specific parameters and issues tokens. */
export type GrantHandler = <U extends User, C extends Client>(
  e: Engine<U, C>,
  client: C,
  params: Params,
  ctx: GrantContext,
) => Promise<Granted | OAuthError>;
