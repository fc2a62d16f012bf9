/**
 * @module providers/http — generic REST resources.
 */
export { httpResource } from './resource.ts';
