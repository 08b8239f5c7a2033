#!/usr/bin/env bash
# Set up everything `make demo` / `make test` need, idempotently:
#   1. Debian libraries open3d (and the browser test) need, installed when missing;
#   2. a virtual environment in .venv with the package installed editable, with [dev] extras.
# A stamp keyed on pyproject.toml's hash makes a second run a no-op (see Makefile).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
# TensorFlow for the CPU (default) or for NVIDIA GPUs (GPU=1: tensorflow[and-cuda], CUDA and cuDNN
# from PyPI; the NVIDIA driver must be on the machine already)
if [ "${GPU:-0}" = 1 ]; then EXTRAS="dev,gpu"; else EXTRAS="dev,cpu"; fi
if [ "${1:-}" = "--print-extras" ]; then echo ".[$EXTRAS]"; exit 0; fi
APT_PACKAGES=(libusb-1.0-0 libgl1 libegl1 libgomp1 libvulkan1 mesa-vulkan-drivers
              chromium chromium-driver fonts-liberation)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: error: missing Debian packages: ${missing[*]}" >&2
    echo "setup: run as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: error: $PYTHON is $("$PYTHON" --version 2>&1); Python >= 3.11 is required" >&2
  exit 1
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
# uv (from PyPI, into the venv) installs the same packages as pip in ~45 s instead of ~155 s on
# a fresh 2-core machine (parallel downloads); pip is the fallback wherever uv cannot be had.
# Bytecode is compiled at install time, as pip does: where PYTHONDONTWRITEBYTECODE is set, a venv
# without it recompiles TensorFlow's sources in every process (`import tensorflow` 18 s, not 7 s)
if "$VENV/bin/python" -m pip install -q uv 2>/dev/null; then
  PIP=("$VENV/bin/python" -m uv pip)
  PIP_TARGET=(--python "$VENV/bin/python")
  COMPILE=(--compile-bytecode)
  YES=()
else
  "$VENV/bin/python" -m pip install -q --upgrade pip
  PIP=("$VENV/bin/python" -m pip)
  PIP_TARGET=()
  COMPILE=()
  YES=(-y)
fi
if [ "${GPU:-0}" = 1 ]; then
  "${PIP[@]}" uninstall -q "${YES[@]}" "${PIP_TARGET[@]}" tensorflow-cpu 2>/dev/null || true
else
  "${PIP[@]}" uninstall -q "${YES[@]}" "${PIP_TARGET[@]}" tensorflow 2>/dev/null || true
fi
"${PIP[@]}" install -q "${PIP_TARGET[@]}" "${COMPILE[@]}" -e ".[$EXTRAS]"
# open3d pulls in dash, which drops a source lab extension that makes JupyterLab ask for a
# rebuild on every page load; the notebooks never use it: remove it and keep it disabled
rm -f "$VENV/share/jupyter/lab/extensions/dash-jupyterlab.tgz"
mkdir -p "$VENV/etc/jupyter/labconfig"
echo '{"disabledExtensions": {"@plotly/dash-jupyterlab": true}}' \
  > "$VENV/etc/jupyter/labconfig/page_config.json"
# the native correspondence kernel, compiled now rather than on first use (numba otherwise)
"$VENV/bin/python" -m workbench.geometry.native
echo "setup: ready ($("$VENV/bin/python" --version), $VENV, extras $EXTRAS)"
