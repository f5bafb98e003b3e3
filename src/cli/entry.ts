// Bundle entry point: dist/cli.js.
export { main } from './main.js';
