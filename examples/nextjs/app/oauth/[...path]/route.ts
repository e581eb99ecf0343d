/** The OAuth endpoints under /oauth (token, revocation, introspection, JWKS) through core's Fetch adapter. */
import { oauthRoute } from '../../../lib/oauth';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

export const GET = oauthRoute;
export const POST = oauthRoute;
export const PUT = oauthRoute;
export const PATCH = oauthRoute;
export const DELETE = oauthRoute;
export const HEAD = oauthRoute;
export const OPTIONS = oauthRoute;
