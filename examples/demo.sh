#!/usr/bin/env bash
# The main job, end to end on this machine: build a real kernel module for each
# kernel of a small matrix with that kernel's Kbuild, pack the modules and the
# script into one bundle, sign it, verify it, inspect it, and ask the runner
# whether it would run (dry run) on a host of each kind.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/packaging/install-deps.sh"
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
cd "$root"

step() { printf '\n== %s\n' "$*"; }

step "building stap-pack and stap-verify-run"
cargo build --release --bins -p stap-pack -p stap-verify-run
bin="$root/target/release"
out="$root/target/demo"
rm -rf "$out"
mkdir -p "$out"

kernels=(6.1.0-56-cloud-amd64 6.12.117+deb12-cloud-amd64)
module_args=()
for kernel in "${kernels[@]}"; do
    step "Kbuild for $kernel"
    mkdir -p "$out/build/$kernel"
    cp tests/modules/minimal/minimal.c tests/modules/minimal/Kbuild "$out/build/$kernel/"
    make -s -C "/lib/modules/$kernel/build" M="$out/build/$kernel" modules
    module_args+=(--module "$kernel=$out/build/$kernel/stap_pack_minimal.ko")
done

step "signing key for the release pipeline"
"$bin/stap-pack" keygen --out "$out/release-key"

step "assemble one bundle for the whole matrix"
"$bin/stap-pack" assemble --name hello --version 1.0.0 \
    --script examples/hello.stp "${module_args[@]}" --privilege stapusr \
    -o "$out/hello.stpb"

step "sign"
"$bin/stap-pack" sign "$out/hello.stpb" --key "$out/release-key.key"

step "verify"
"$bin/stap-pack" verify "$out/hello.stpb" --trust "$out/release-key.pub"

step "inspect"
"$bin/stap-pack" inspect "$out/hello.stpb"

for kernel in "${kernels[@]}"; do
    step "dry run as root on a $kernel host"
    "$bin/stap-verify-run" --dry-run --trust "$out/release-key.pub" --kernel-release "$kernel" "$out/hello.stpb"
done

step "dry run on this machine's own kernel ($(uname -r)): refused, with the reason"
status=0
"$bin/stap-verify-run" --dry-run --trust "$out/release-key.pub" "$out/hello.stpb" || status=$?
echo "exit status $status (6: no matching kernel)"
if [ "$status" -ne 6 ] && [ "$status" -ne 0 ]; then
    exit 1
fi
step "done: bundle at $out/hello.stpb"
