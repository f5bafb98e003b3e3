/** Where images are stored and how registries are reached: shared by build, pull (and their CLI commands). */
export interface StoreRegistryOptions {
  /** Local store root (default /var/lib/stagecraft). */
  root?: string | undefined;
  /** `os/arch[/variant]`; default the host. */
  platform?: string | undefined;
  insecureRegistries?: string[] | undefined;
  /** Mirrors for docker.io (`https://mirror.example`), tried in order before the origin. */
  registryMirrors?: string[] | undefined;
  /** Per-registry CAs, `<certsDir>/<host:port>/ca.crt` (default /etc/docker/certs.d, env STAGECRAFT_CERTS_DIR). */
  certsDir?: string | undefined;
  /** Directory of Docker's config.json with the registry credentials (default $DOCKER_CONFIG, else ~/.docker). */
  dockerConfigDir?: string | undefined;
}
