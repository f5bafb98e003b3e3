/**
 * RegistryClient options from the registry flags every registry-facing
 * command shares (build, push, login): Docker's config.json credentials,
 * certs.d, insecure hosts and docker.io mirrors. The build and the CLI both
 * use this, so a pull during a build sees the same login as `push` does.
 */
import { dockerConfigCredentials } from './docker-config.js';
import type { RegistryClientOptions } from './types.js';

/** `--insecure-registry`, `--registry-mirror`, `--certs-dir`, `--config`. */
export interface RegistryFlags {
  insecureRegistry?: string[] | undefined;
  registryMirror?: string[] | undefined;
  /** Default /etc/docker/certs.d (env STAGECRAFT_CERTS_DIR). */
  certsDir?: string | undefined;
  /** Default $DOCKER_CONFIG, else ~/.docker. */
  configDir?: string | undefined;
}

/** RegistryClient options from the flags: Docker's config.json credentials, certs.d, insecure hosts, mirrors. */
export function registryClientOptions(f: RegistryFlags, env: NodeJS.ProcessEnv = process.env): RegistryClientOptions {
  const o: RegistryClientOptions = {
    insecureRegistries: f.insecureRegistry ?? [],
    registryMirrors: f.registryMirror ?? [],
    credentials: dockerConfigCredentials({ ...(f.configDir !== undefined ? { configDir: f.configDir } : {}), env }),
  };
  const certsDir = f.certsDir ?? env.STAGECRAFT_CERTS_DIR;
  if (certsDir !== undefined) o.certsDir = certsDir;
  return o;
}
