/**
 * The image reference grammar, as Docker and the distribution project define
 * it, in pieces that the parser and tests share. Pure data.
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ domain "/" ] path-component [ "/" path-component ]*
 *   domain     := host [ ":" port ]
 *   host       := domain-name | "[" IPv6 "]"
 */

/** A path component: lowercase alphanumerics joined by '.', '_', '__' or runs of '-'. */
export const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

/** One label of a host name. */
const DOMAIN_LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
/** host name or bracketed IPv6 address, optionally with a port. */
export const DOMAIN = new RegExp(`^(?:${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);

/** A tag: a word character then up to 127 of word, '.', '-'. */
export const TAG = /^[\w][\w.-]{0,127}$/;

/** General digest syntax: algorithm ':' encoded. */
export const DIGEST_SYNTAX = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;

/** Digest algorithms we accept, with the length of their lowercase hex encoding. */
export const DIGEST_ALGORITHMS: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };

/** A bare 64-hex string, which Docker refuses as a name (it looks like an image id). */
export const IMAGE_ID = /^[a-f0-9]{64}$/;

/** Longest allowed name (domain and path together). */
export const NAME_MAX_LENGTH = 255;

export const DEFAULT_REGISTRY = 'docker.io';
export const LEGACY_DEFAULT_REGISTRY = 'index.docker.io';
export const DEFAULT_REGISTRY_API_HOST = 'registry-1.docker.io';
export const OFFICIAL_NAMESPACE = 'library';
export const DEFAULT_TAG = 'latest';
