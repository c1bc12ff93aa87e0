#!/usr/bin/env bash
# Makes the default training data from Debian packages, once: Fashion-MNIST
# (package dataset-fashion-mnist) as an ImageNet-style folder tree
#   data/fashion-mnist/{train,val}/<class>/NNNNN.png
# for the `imagenet` dataset. scripts/edgeopt-run calls this before every run,
# so when the data is there it only reads a stamp file. The tree is built in a
# temporary folder and renamed into place with the stamp, under a lock: an
# interrupted or concurrent run never leaves a half-made tree behind.
# Classes are numbered by sorted folder name there (Ankle_boot = 0, ...,
# Trouser = 9), unlike the IDX labels; the `mnist` dataset reads the IDX files
# directly with their own label order.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${EDGEOPT_BUILD_DIR:-$root/build}"
data="${EDGEOPT_DATA_DIR:-$root/data}"
src=/usr/share/datasets/fashion-mnist
out="$data/fashion-mnist"
stamp="$out/.edgeopt-complete"
want="fashion-mnist folders v1 from $src"

is_done() { [ -f "$stamp" ] && { read -r have < "$stamp"; [ "$have" = "$want" ]; }; }
is_done && exit 0

if [ ! -f "$src/train-images-idx3-ubyte.gz" ]; then
  # Not fatal: the recipe may not need this data; one that does stops with
  # the dataset's own error naming the missing folder.
  echo "fetch-data: $src is missing (Debian package dataset-fashion-mnist;" \
       "scripts/setup.sh --deps installs it); data/fashion-mnist not made" >&2
  exit 0
fi

tool="$build/bin/edgeopt-idx2folder"
if [ ! -x "$tool" ]; then
  if [ -f "$build/build.ninja" ]; then
    cmake --build "$build" --target edgeopt-idx2folder >&2
  else
    "$root/scripts/setup.sh" >&2
  fi
fi

mkdir -p "$data"
exec 9>"$data/.fetch-data.lock"
flock 9
is_done && exit 0  # another run made it while we waited

echo "fetch-data: making $out from $src (70000 PNGs, about 10 s)" >&2
tmp="$(mktemp -d "$data/.fashion-mnist.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"  # mktemp makes it private
"$tool" "$src" "$tmp" --variant fashion >&2
echo "$want" > "$tmp/.edgeopt-complete"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
