/** The RFC 8414 metadata document, through core's Fetch adapter. */
import { oauthRoute } from '../../../lib/oauth';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

export const GET = oauthRoute;
export const POST = oauthRoute;
