/**
 * docs/mcp-authorization.md: an authorization server for MCP clients (self-registration, Client ID
 * Metadata Documents, resource indicators, JWT access tokens, PAR and DPoP) and an MCP server
 * that takes its tokens with `@portcullis/resource-server` (RFC 9728 metadata, audience check).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createMemoryStores, OAuth2Provider } from '@portcullis/core';
import { createVerifier, protectedResourceHandler, protectedResourceMetadataUrl, withOAuth } from '@portcullis/resource-server';

/** The authorization server: what an MCP client needs to arrive without a human registering it. */
export function createAuthorizationServer(issuer: string, mcpServer: string, keyEncryptionKey: string): OAuth2Provider {
  return new OAuth2Provider({
    issuer,
    scopes: ['tools:read', 'tools:call'],
    // Swap for a binding (Sequelize, Mongoose, Drizzle, Prisma) in production: every store below
    // has a database implementation, so several processes share clients, keys and proofs.
    stores: createMemoryStores(),
    // Clients that register themselves (RFC 7591), with the scopes the operator allows.
    registration: { enabled: true, scopes: ['tools:read', 'tools:call'] },
    // Clients that name themselves by the URL of their metadata document.
    clientIdMetadataDocuments: { enabled: true },
    // The MCP server is a registered resource (RFC 8707): its tokens carry it as `aud`, as JWTs.
    resources: [{ uri: mcpServer, scopes: ['tools:read', 'tools:call'], accessTokenFormat: 'jwt' }],
    jwt: { keyEncryptionKey },
    // Pushed authorization requests and sender-constrained tokens, for clients that use them.
    par: { enabled: true },
    dpop: { enabled: true },
  });
}

/** The MCP server's request handler: its protected resource metadata, and its endpoint behind the token check. */
export function createMcpHandler(issuer: string, mcpServer: string): (req: IncomingMessage, res: ServerResponse) => void {
  const verifier = createVerifier({
    issuer,
    audience: mcpServer,
    // 401 answers point clients at the metadata below (RFC 9728 section 5.1).
    resourceMetadata: protectedResourceMetadataUrl(mcpServer),
  });
  const metadata = protectedResourceHandler({
    resource: mcpServer,
    authorizationServers: [issuer],
    scopesSupported: ['tools:read', 'tools:call'],
  });
  const mcp = withOAuth(verifier, ['tools:read'], (req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools: [], client: req.oauth.clientId } }));
  });
  return (req, res) => metadata(req, res, () => void mcp(req, res));
}
