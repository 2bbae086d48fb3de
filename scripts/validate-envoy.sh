#!/usr/bin/env bash
# `npm run check:envoy` (part of `npm run check`): Envoy itself validates the shipped config
# (`envoy --mode validate`), with envoy/sds/ mounted where compose mounts it. See envoy-sandbox.sh.
set -euo pipefail

usage() {
  cat <<USAGE
usage: scripts/validate-envoy.sh [--config FILE]

Runs 'envoy --mode validate -c /etc/envoy/envoy.yaml' in scripts/envoy-sandbox.sh, with
envoy/envoy.yaml (or FILE) and envoy/sds/ at their compose paths. Exits non-zero when Envoy
refuses the config. Needs Envoy (npm run setup:envoy, or ENVOY_BIN).

  --config FILE   validate FILE instead of envoy/envoy.yaml
  -h, --help      this text
USAGE
}

root="$(cd "$(dirname "$0")/.." && pwd)"
config="$root/envoy/envoy.yaml"
while (($#)); do
  case "$1" in
    --config) config="${2:?--config needs a file}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "validate-envoy: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Validation reads the SDS files but not the certificates they name: an empty edge directory will do.
mkdir -p "$work/edge" "$work/scratch"
if out="$(bash "$root/scripts/envoy-sandbox.sh" --edge-pki "$work/edge" --scratch "$work/scratch" --config "$config" -- --mode validate --log-level warn 2>&1)"; then
  echo "envoy --mode validate: $(tail -n 1 <<<"$out")"
else
  status=$?
  printf '%s\n' "$out" >&2
  echo "envoy --mode validate: $config is refused (exit $status)" >&2
  exit "$status"
fi
