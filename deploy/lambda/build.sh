#!/usr/bin/env bash
# Builds flick's Lambda function (the worker-lambda crate) for provided.al2023 on arm64 and
# prints the path of its zip, target/lambda/flick-worker/bootstrap.zip, last: the CodeUri of
# deploy/lambda/template.yaml.
#
# Usage: deploy/lambda/build.sh
# Cross-compiles with plain cargo, so it installs what that needs when it is missing: the rustup
# target aarch64-unknown-linux-gnu, the Debian package gcc-aarch64-linux-gnu (the linker, and
# the C compiler for aws-lc-sys; needs root or sudo) and cargo-lambda (from PyPI).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

target=aarch64-unknown-linux-gnu
cross_gcc=aarch64-linux-gnu-gcc

if ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target"
fi
if ! command -v "$cross_gcc" >/dev/null 2>&1; then
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update
    "${sudo[@]}" apt-get install -y gcc-aarch64-linux-gnu
fi
if ! command -v cargo-lambda >/dev/null 2>&1; then
    pip install cargo-lambda
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER="${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER:-$cross_gcc}"
export CC_aarch64_unknown_linux_gnu="${CC_aarch64_unknown_linux_gnu:-$cross_gcc}"

# --lambda-dir fixes the output under the repository's target/ even when CARGO_TARGET_DIR
# points elsewhere, so that the template's CodeUri always names it.
cargo lambda build --release --arm64 --compiler cargo -p worker-lambda \
    --output-format zip --lambda-dir target/lambda >&2

# provided.al2023 has glibc 2.34: a binary linked against a newer cross glibc (Debian 12's is
# 2.36, Debian 13's 2.41) may need a symbol versioned after it and then fails to start there.
binary=${CARGO_TARGET_DIR:-target}/$target/release/flick-worker
if command -v aarch64-linux-gnu-objdump >/dev/null 2>&1; then
    newest=$(aarch64-linux-gnu-objdump -T "$binary" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1)
    if [ "$(printf '%s\n' GLIBC_2.34 "$newest" | sort -V | tail -n 1)" != GLIBC_2.34 ]; then
        echo "build.sh: $binary needs $newest, newer than the glibc 2.34 of provided.al2023;" \
            "build where the aarch64 cross glibc is 2.34 or older, or with cargo lambda's" \
            "default compiler, zig (without --compiler cargo), which targets an older glibc" >&2
        exit 1
    fi
fi

zip=target/lambda/flick-worker/bootstrap.zip
if [ ! -f "$zip" ]; then
    echo "build.sh: cargo lambda build finished but $zip is missing" >&2
    exit 1
fi
echo "$PWD/$zip"
