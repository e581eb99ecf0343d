/** A protected route handler: a bearer token with the `read` scope. */
import { requireRead } from '../../../lib/oauth';

export const dynamic = 'force-dynamic';
export const runtime = 'nodejs';

/** Who the token belongs to; 401/403 with `WWW-Authenticate` otherwise. */
export async function GET(request: Request): Promise<Response> {
  const r = await requireRead(request);
  if (!r.ok) return r.response;
  return Response.json({ client: r.token.clientId, scopes: r.token.scopes }, { headers: { 'Cache-Control': 'no-store' } });
}
