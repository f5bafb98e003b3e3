'use strict';
// Prints a framed greeting with the two vendored packages that npm ci
// installed in the builder stage; the runner has node_modules, not npm.
const greet = require('greet');
const banner = require('banner');

console.log(banner(greet(process.argv[2] || 'multi-stage')));
