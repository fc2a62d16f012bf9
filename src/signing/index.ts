/**
 * @module signing — AWS Signature Version 4 for simulator calls: sign (local mode, the signing proxy),
 * verify (the simulator), replay protection, and the keep-alive HttpClient local mode uses.
 */
export type { Credentials } from './credentials.ts';
export { credentialsFromEnv, parseKeyList } from './credentials.ts';
export { DEFAULT_MAX_SKEW_MS, HEADER, SIGNING_REGION, SIGNING_SERVICE } from './constants.ts';
export type { SignableRequest } from './sign.ts';
export { signRequest, signRequestSync } from './sign.ts';
export type { VerifiableRequest, VerifyOptions, VerifyResult } from './verify.ts';
export { verifyRequest, verifyRequestSync } from './verify.ts';
export type { ReplayCacheOptions } from './replay-cache.ts';
export { ReplayCache } from './replay-cache.ts';
export type { ClosableHttpClient, HttpClientOptions } from './http-client.ts';
export { createPlainHttpClient, createSignedHttpClient } from './http-client.ts';
