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
# a fresh 2-core machine (parallel downloads); pip is the fallback wherever uv cannot be had or
# fails (uv reads no pip.conf). Bytecode is compiled at install time, as pip does: where
# PYTHONDONTWRITEBYTECODE is set, a venv without it recompiles TensorFlow's sources in every
# process (`import tensorflow` 18 s, not 7 s)
UV=("$VENV/bin/python" -m uv pip)
PIP=("$VENV/bin/python" -m pip)
# the TensorFlow build of the other extra, if an earlier set-up installed it
if [ "${GPU:-0}" = 1 ]; then OTHER_TF=tensorflow-cpu; else OTHER_TF=tensorflow; fi
"${PIP[@]}" uninstall -q -y "$OTHER_TF" 2>/dev/null || true
if ! { "${PIP[@]}" install -q uv 2>/dev/null &&
       "${UV[@]}" install -q --python "$VENV/bin/python" --compile-bytecode -e ".[$EXTRAS]"; }; then
  echo "setup: uv not available here: installing with pip"
  "${PIP[@]}" install -q --upgrade pip
  "${PIP[@]}" install -q -e ".[$EXTRAS]"
fi
# open3d pulls in dash, which drops a source lab extension that makes JupyterLab ask for a
# rebuild on every page load; the notebooks never use it: remove it and keep it disabled
rm -f "$VENV/share/jupyter/lab/extensions/dash-jupyterlab.tgz"
mkdir -p "$VENV/etc/jupyter/labconfig"
echo '{"disabledExtensions": {"@plotly/dash-jupyterlab": true}}' \
  > "$VENV/etc/jupyter/labconfig/page_config.json"
# the native correspondence kernel, compiled now rather than on first use (numba otherwise)
"$VENV/bin/python" -m workbench.geometry.native
echo "setup: ready ($("$VENV/bin/python" --version), $VENV, extras $EXTRAS)"
