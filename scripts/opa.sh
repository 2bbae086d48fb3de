#!/usr/bin/env bash
# Runs the OPA CLI: $OPA_BIN, else `opa` on PATH, else the one `go install` put in $(go env GOPATH)/bin.
set -euo pipefail
bin="${OPA_BIN:-}"
if [[ -z "$bin" ]]; then
  if command -v opa >/dev/null 2>&1; then
    bin=$(command -v opa)
  elif command -v go >/dev/null 2>&1 && [[ -x "$(go env GOPATH)/bin/opa" ]]; then
    bin="$(go env GOPATH)/bin/opa"
  else
    echo "opa: the OPA CLI is not installed; run: go install github.com/open-policy-agent/opa@\$(cat .opa-version)" >&2
    exit 127
  fi
fi
exec "$bin" "$@"
