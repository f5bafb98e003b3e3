export { Store, type ImageSummary, type LayerInfo, type PruneResult, type ResolvedLocalImage } from './store.js';
