#!/usr/bin/env bash
# Runs the OPA CLI at the pinned version (.opa-version): $OPA_BIN, else `opa` on PATH, else the one
# `go install` put in $(go env GOPATH)/bin, else `go run github.com/open-policy-agent/opa@<pinned>`,
# so that `npm ci && npm start` needs no separate install step (Go is enough).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pinned="$(cat "$root/.opa-version")"
bin="${OPA_BIN:-}"
if [[ -z "$bin" ]]; then
  if command -v opa >/dev/null 2>&1; then
    bin=$(command -v opa)
  elif command -v go >/dev/null 2>&1 && [[ -x "$(go env GOPATH)/bin/opa" ]]; then
    bin="$(go env GOPATH)/bin/opa"
  elif command -v go >/dev/null 2>&1; then
    echo "opa: not installed; running OPA $pinned through 'go run' (the first run downloads and compiles it, about 2 minutes)" >&2
    exec go run "github.com/open-policy-agent/opa@$pinned" "$@"
  else
    echo "opa: the OPA CLI is not installed and Go is missing; install Go, or run: go install github.com/open-policy-agent/opa@$pinned" >&2
    exit 127
  fi
fi
exec "$bin" "$@"
