export { RegistryClient, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, type BlobFetchResult, type FetchBlobOptions } from './client.js';
export { RegistryError, type RegistryErrorDetails } from './registry-error.js';
export { isLoopbackHost } from './transport.js';
export { parseAuthChallenges, pullScope, type AuthChallenge } from './auth-challenge.js';
export { VerifyingStream, verifyBytes } from './verify.js';
export type { BlobProgress, BlobSink, Credentials, CredentialsProvider, RegistryClientOptions, ResolvedImage } from './types.js';
export { dockerConfigCredentials, normalizeRegistryKey, type DockerConfigOptions } from './docker-config.js';
