/** What a target needs: stages, dependencies, build args. Pure. */
export { outline, type Outline, type OutlineArg, type OutlineInput, type OutlineStage } from './outline.js';
export { renderOutline } from './render.js';
