#!/usr/bin/env bash
# Installs the Debian packages stagecraft and its tests need. Idempotent.
# docker.io provides dockerd and the docker client (BuildKit, the oracle of the
# differential suite and the bench); buildah and podman are checked against too.
set -euo pipefail
pkgs=(runc crun docker-registry skopeo umoci busybox-static debootstrap pigz zstd jq attr ca-certificates apache2-utils openssl docker.io podman buildah git openssh-client xz-utils bzip2 gzip)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
