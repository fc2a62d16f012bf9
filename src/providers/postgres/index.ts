/**
 * @module providers/postgres — databases, roles, schemas and grants on a real PostgreSQL server.
 */
export { postgresDatabase } from './database.ts';
export { postgresRole } from './role.ts';
export { postgresSchema } from './schema.ts';
export { postgresGrant } from './grant.ts';
