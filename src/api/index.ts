/**
 * @module api — the server's HTTP API (SPEC.md §8) for workers, tasks and tokens.
 */
export { buildApp, registeredRoutes, toHttpError, type AppOptions } from './app.ts';
export { allows, Authenticator, hashToken, mintToken, newToken, requireAccess, type Access } from './auth.ts';
export { audit, readAudit, type AuditEntry } from './audit.ts';
export { route, param, query, type ApiContext, type Handler } from './context.ts';
export { openApiDocument } from './openapi.ts';
