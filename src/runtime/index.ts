/**
 * Running RUN steps: find an OCI runtime, run a process on an overlay
 * snapshot, get the changes back as an upper dir (then `writeLayerFromUpper`
 * in fs/upper-diff turns it into a layer tar).
 */
export { detectRuntime, probeRuntime, DEFAULT_STATE_ROOT, type OciRuntime, type RuntimeName, type DetectOptions } from './detect.js';
export { runStep, type RunStepOptions, type RunStepResult } from './run-step.js';
export { runContainer, DEFAULT_HOSTNAME, type RunContainerOptions, type RunContainerResult, type OutputStream } from './run-container.js';
export {
  generateSpec, mountTargets, standardMounts, DEFAULT_CAPABILITIES, DEFAULT_PATH, MASKED_PATHS, READONLY_PATHS,
  type SpecOptions, type OciSpec, type OciMount, type ExtraMount, type NetworkMode, type ProcessUser,
} from './spec.js';
export { hostsFile, resolvConf, type HostEntry } from './etc-files.js';
