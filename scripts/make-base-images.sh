#!/usr/bin/env bash
# Builds the integration-test base images ahead of time (CI calls this; tests
# would otherwise build them on first use). Needs root, debootstrap, umoci.
# Cache: ${STAGECRAFT_TEST_CACHE:-/var/cache/stagecraft-test}/base-images
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx scripts/make-base-images.ts "$@"
