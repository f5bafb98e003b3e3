#!/usr/bin/env bash
# One command on a fresh Debian 12 machine (as root): install what stagecraft
# needs, make the base images (there is no Docker Hub here: they are built with
# debootstrap and served by a registry on 127.0.0.1), then build the classic
# two-stage Python example end to end (or the example named: node-app, go-app)
# and show the images with their sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-system.sh
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent
exec node --import tsx scripts/demo.ts "$@"
