export { Reference, formatReference, isValidReference, parseReference, type ReferenceParts } from './reference.js';
export { DEFAULT_REGISTRY, DEFAULT_REGISTRY_API_HOST, DEFAULT_TAG } from './grammar.js';
