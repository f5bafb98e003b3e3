#!/usr/bin/env bash
# The one test command: typecheck, then every test file with node's test runner.
#   scripts/test.sh          all tests (unit, conformance, integration)
#   scripts/test.sh unit     only tests that need no root, runtime or registry
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json --noEmit
if [ "${1:-}" = unit ]; then
  files=$(find test -name '*.test.ts' -not -path 'test/integration/*' -not -path 'test/differential/*' | sort)
else
  files=$(find test -name '*.test.ts' | sort)
fi
# Integration tests share a registry and the store; run files one at a time.
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec $files
