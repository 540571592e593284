#!/usr/bin/env bash
# Generates the Kotlin and Swift bindings of fieldsync-ffi.
#
#   mobile-ffi/scripts/bindings.sh [OUT_DIR]     (default: target/bindings)
#
# Builds the host library (debug: bindings come from its UniFFI metadata,
# which a stripped library no longer has), then runs the crate's own
# uniffi-bindgen (pinned to the workspace's uniffi) in library mode:
#   OUT_DIR/kotlin/com/fieldsync/fieldsync_ffi.kt
#   OUT_DIR/swift/{Fieldsync.swift, FieldsyncFFI.h, FieldsyncFFI.modulemap}
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-target}"
out="${1:-$target/bindings}"

cargo build -q -p fieldsync-ffi --lib
case "$(uname -s)" in
    Darwin) lib="$target/debug/libfieldsync_ffi.dylib" ;;
    *) lib="$target/debug/libfieldsync_ffi.so" ;;
esac
for language in kotlin swift; do
    rm -rf "$out/$language"
    cargo run -q -p fieldsync-ffi --features cli --bin uniffi-bindgen -- \
        generate --library "$lib" --language "$language" --out-dir "$out/$language" --no-format
done
find "$out" -type f | sort
