#!/usr/bin/env bash
# Rebuilds the library's modules into library/built/, which the plugin embeds (src/library.rs).
# Needs the Faust compiler, clang and lld, and Rust's wasm32-unknown-unknown target:
#   apt-get install faust clang lld && rustup target add wasm32-unknown-unknown
# The built files are committed, so building the plugin needs none of these; tests/engine/
# library.rs checks that each one still sounds exactly like its source built afresh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
out="$here/built"
mkdir -p "$out"

# Faust writes the folders it searched, the working one among them, into each module's JSON,
# and the order of some of its floating-point operations depends on those paths' lengths. The
# sources are built from one fixed folder, so no machine's checkout path ends up in a module
# and a rebuild from any checkout gives the same bytes.
stage=/tmp/wasp-library-faust
rm -rf "$stage"
mkdir -p "$stage"
cp "$here"/faust/*.dsp "$stage"/
for dsp in "$stage"/*.dsp; do
    name="$(basename "$dsp" .dsp)"
    # Faust writes a JavaScript loader beside the module; Wasp needs only the module.
    # -ftz 2: recursive signals flush subnormal numbers (WebAssembly has no flush-to-zero
    # mode, and a filter decaying into subnormals is slow on x86).
    (cd "$stage" && faust -lang wasm -ftz 2 -o "$name.wasm" "$name.dsp")
    cp "$stage/$name.wasm" "$out/$name.wasm"
done
rm -rf "$stage"

for c in "$here"/c/*.c; do
    name="$(basename "$c" .c)"
    clang --target=wasm32 -O2 -nostdlib -Wl,--no-entry -Wl,--export-dynamic \
        -Wl,--allow-undefined -I "$root/sdk/c" -o "$out/$name.wasm" "$c"
done

for crate in "$here"/rust/*/; do
    name="$(basename "$crate")"
    # The paths of source files end up in panic messages: keep this machine's out of them.
    (cd "$crate" && env -u RUSTFLAGS CARGO_TARGET_DIR="$crate/target" \
        CARGO_ENCODED_RUSTFLAGS="--remap-path-prefix=$root=wasp" \
        cargo build --release --target wasm32-unknown-unknown --quiet)
    cp "$crate/target/wasm32-unknown-unknown/release/wasp_${name//-/_}.wasm" "$out/$name.wasm"
done
ls -l "$out"
