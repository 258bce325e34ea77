#!/usr/bin/env bash
# Installs the programs flick's tests, demo and benchmark run beside it, on a Debian machine
# that has only the Rust toolchain: ffmpeg (sources, and a decoder to compare speed with) and
# libvpx's vpxenc and vpxdec (the reference VP8 encoder and decoder), and a font for the text of
# `flick plot-timeline` (DejaVu Sans, read at run time).
# Does nothing when they are already there. Uses sudo only when not root.
set -euo pipefail

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for tool in vpxenc vpxdec ffmpeg; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing vpx-tools and ffmpeg (missing: ${missing[*]})"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        vpx-tools ffmpeg </dev/null
fi

font=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
if [ ! -f "$font" ]; then
    echo "setup: installing fonts-dejavu-core (missing: $font)"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        fonts-dejavu-core </dev/null
fi
