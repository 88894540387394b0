#!/usr/bin/env bash
# The main job, end to end on this machine: translate a SystemTap script and
# build its module for each kernel of a small matrix with that kernel's own
# Kbuild, bundle and sign it, verify and inspect it, ask the runner whether it
# would run on a host of each kind, then boot one of those kernels (Debian's
# image, in qemu) and run the bundle there, showing the probe output.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/packaging/install-deps.sh"
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
cd "$root"

step() { printf '\n== %s\n' "$*"; }

step "building stap-pack, stap-verify-run and the VM runner"
cargo build --release --bins -p stap-pack -p stap-verify-run -p stap-pack-tests
bin="$root/target/release"
out="$root/target/demo"
rm -rf "$out"
mkdir -p "$out"
kernels=(6.1.0-56-cloud-amd64 6.12.117+deb12-cloud-amd64)

step "signing key for the release pipeline"
"$bin/stap-pack" keygen --out "$out/release-key"

step "build examples/hello.stp for ${kernels[*]}"
kernel_args=()
for kernel in "${kernels[@]}"; do kernel_args+=(-r "$kernel"); done
"$bin/stap-pack" build examples/hello.stp "${kernel_args[@]}" \
    --name hello --version 1.0.0 --key "$out/release-key.key" -o "$out/hello.stpb"

step "verify"
"$bin/stap-pack" verify "$out/hello.stpb" --trust "$out/release-key.pub"

step "inspect"
"$bin/stap-pack" inspect "$out/hello.stpb"

for kernel in "${kernels[@]}"; do
    step "dry run as root on a $kernel host"
    "$bin/stap-verify-run" --dry-run --trust "$out/release-key.pub" --kernel-release "$kernel" "$out/hello.stpb"
done

step "run it: boot ${kernels[0]} in qemu and run the bundle with ticks=10"
"$bin/vm-run" "${kernels[0]}" "$out/hello.stpb" "$out/release-key.pub" ticks=10

step "done: bundle at $out/hello.stpb"
