/**
 * @module providers/sim — resources on the region simulator (SPEC §4, docs/simulator.md).
 */
export { simNetwork } from './network.ts';
export { simInstance } from './instance.ts';
export { simBucket } from './bucket.ts';
export { simDnsRecord } from './dns-record.ts';
export { simLoadBalancer } from './load-balancer.ts';
export { simUser } from './user.ts';
