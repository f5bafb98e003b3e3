export { loadArchive, loadArchiveImage, type LoadedImage, type LoadOptions } from './load.js';
export { saveDockerArchive, saveOciArchive } from './save.js';
export { openArchive, type ArchiveSource } from './source.js';
