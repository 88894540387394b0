#!/usr/bin/env bash
# Installs what stap-pack's build, demo and tests need on Debian 12, as root.
# Idempotent: installs only what is missing, and runs apt-get update only then.
set -euo pipefail

# The kernel matrix the demo and the tests build for. Debian's security
# archive carries these header sets and the images the VM tests boot.
KERNELS=(6.1.0-56-cloud-amd64 6.12.117+deb12-cloud-amd64)
# More header sets the C runtime must compile against warning free (an older
# ABI and the other flavours of the same 6.1 release); no images.
HEADER_ONLY_KERNELS=(6.1.0-47-cloud-amd64 6.1.0-56-amd64 6.1.0-56-rt-amd64)

# qemu and busybox-static run the VM tests (tests/src/vm), which boot each
# kernel's image from /boot under TCG with a busybox initramfs.
packages=(build-essential make gcc bc kmod zstd util-linux python3 python3-venv systemtap systemtap-common systemtap-doc
    qemu-system-x86 busybox-static)
for kernel in "${KERNELS[@]}"; do
    packages+=("linux-headers-$kernel" "linux-image-$kernel")
done
for kernel in "${HEADER_ONLY_KERNELS[@]}"; do
    packages+=("linux-headers-$kernel")
done

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if ((${#missing[@]})); then
    echo "install-deps: installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    # Debian 12's own cargo is too old for the workspace: use rustup's stable.
    echo "install-deps: installing the stable Rust toolchain with rustup"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends curl ca-certificates
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy,rustfmt
fi
