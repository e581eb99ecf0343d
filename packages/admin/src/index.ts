/**
 * `@portcullis/admin`: an optional, separately mounted admin API for a Portcullis provider:
 * clients (list, create, read, replace, delete, rotate the secret), users' grants (list, revoke)
 * and JWT signing keys (list, rotate), as JSON, described by an OpenAPI 3.1 document.
 */
export { type AdminFetchHandler, type AdminNodeHandler, createAdminFetchHandler, createAdminHandler } from './adapters.js';
export { ADMIN_BODY_LIMIT, ADMIN_MAX_PAGE, type AdminApi, type AdminOptions, type AdminPrincipal, createAdminApi } from './api.js';
export { type AdminOpenApiDocument, adminOpenApi, type JsonValue } from './openapi.js';
