#!/usr/bin/env bash
# Runs every test of the workspace on Debian 12, as root, installing what the
# tests need first. CI calls this through .ci/run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/packaging/install-deps.sh"
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
cd "$root"

# Python with Sigstore's protobuf-specs, to check our signature documents
# parse with the reference types. A venv: Debian's python refuses global pip.
venv="$root/target/python-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import sigstore_protobuf_specs" 2>/dev/null; then
    "$venv/bin/pip" install -q sigstore-protobuf-specs
fi
export STAP_PACK_PYTHON="$venv/bin/python"

echo "== format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== tests"
cargo build --workspace --bins --quiet
log="$root/target/test-results.log"
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"

# cargo captures the output of passing tests; show the corpus counts.
echo "== corpus counts"
cargo test -q -p stap-translator --test corpus --test sema_examples -- --show-output 2>&1 |
    grep -E '^kernel "|^library: |^examples: '

# One closing line for the whole run.
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
