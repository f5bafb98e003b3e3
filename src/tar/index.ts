export * from './header.js';
export * from './reader.js';
export * from './writer.js';
export * from './from-dir.js';
export * from './compression.js';
export * from './extract.js';
export * from './flatten.js';
export { readTreeXattrs, writeXattrs, xattrToolsAvailable } from './xattrs.js';
