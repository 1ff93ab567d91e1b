#!/usr/bin/env bash
# Builds the workspace against the newest semver-compatible dependencies, as a user's
# crate without this repository's Cargo.lock gets them, with warnings denied in the
# workspace's crates (cargo caps lints of registry crates), so that a deprecation or
# a break in a new release shows here before a user sees it.
#
# Copies the workspace's files (tracked and untracked, not ignored) to
# target/newest-deps/workspace, runs `cargo update` there (printing what moved), then:
#   cargo check --workspace --all-targets   every crate, test, bench and example compiles
#   cargo test -p recorder-runtime --lib    the runtime's unit tests
#   cargo test -p examples                  the example suite, replayed from recordings/
# This checkout and its Cargo.lock are left as they are. Builds into
# target/newest-deps (CARGO_TARGET_DIR overrides), kept for the next run: remove it
# to free the disk (.ci/run does).
#
# Usage: scripts/newest-deps.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/newest-deps}"
export RUSTFLAGS="${RUSTFLAGS:-} -D warnings"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# The copy sits at a fixed place with the files' times kept (tar), so that a second
# run rebuilds only what changed.
tmp="$CARGO_TARGET_DIR/workspace"
rm -rf "$tmp"
mkdir -p "$tmp"

# (--ignore-failed-read: a tracked file deleted in this checkout is not copied.)
(cd "$root" && git ls-files -z --cached --others --exclude-standard |
  tar --null --files-from=- --ignore-failed-read -cf - | tar -xf - -C "$tmp")
cd "$tmp"
echo "== cargo update (what differs from Cargo.lock)"
cargo update 2>&1 | grep -vE '^ *(Locking|Updating crates.io index)' || true
echo "== cargo check --workspace --all-targets (newest dependencies, -D warnings)"
cargo check --workspace --all-targets
echo "== cargo test -p recorder-runtime --lib (newest dependencies)"
cargo test -q -p recorder-runtime --lib
echo "== cargo test -p examples (newest dependencies)"
cargo test -q -p examples
