#!/usr/bin/env bash
# The main job, for now: encode the real clip to VP8 with vpxenc, decode it with flick, and
# check every frame against libvpx's vpxdec. Installs its own prerequisites, builds flick in
# release mode, and writes into target/demo/ (or $FLICK_DEMO_OUT).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

clip=../shared/testdata/clips/bigbuckbunny.mp4
out=${FLICK_DEMO_OUT:-target/demo}
[ -f "$clip" ] || { echo "demo: $clip not found (shared/ must sit beside the repository)" >&2; exit 1; }

scripts/setup.sh
cargo build --release -p orchestrator
flick=target/release/flick
mkdir -p "$out"

echo "demo: encoding $clip to VP8 with vpxenc"
ffmpeg -hide_banner -loglevel error -nostdin -i "$clip" -pix_fmt yuv420p -f yuv4mpegpipe -y "$out/bigbuckbunny.y4m"
vpxenc --codec=vp8 --ivf --quiet --good --cpu-used=4 --target-bitrate=1500 \
    -o "$out/bigbuckbunny.ivf" "$out/bigbuckbunny.y4m" </dev/null
rm -f "$out/bigbuckbunny.y4m"

echo "demo: decoding with flick"
"$flick" info "$out/bigbuckbunny.ivf" >"$out/info.txt"
"$flick" decode "$out/bigbuckbunny.ivf" --frame-md5 >"$out/flick.md5"
"$flick" decode "$out/bigbuckbunny.ivf" -o "$out/decoded.y4m" --summary
vpxdec --codec=vp8 --i420 --md5 -o 'bigbuckbunny-%wx%h-%4.i420' "$out/bigbuckbunny.ivf" >"$out/vpxdec.md5"

head -n 5 "$out/flick.md5"
echo "..."
frames=$(wc -l <"$out/flick.md5")
if cmp -s "$out/flick.md5" "$out/vpxdec.md5"; then
    echo "demo: flick and vpxdec agree on all $frames frames (MD5 of each frame's I420)"
else
    echo "demo: flick differs from vpxdec:" >&2
    diff "$out/vpxdec.md5" "$out/flick.md5" | head -n 10 >&2
    exit 1
fi
cat <<DONE
demo: outputs in $out/
  bigbuckbunny.ivf   the VP8 stream vpxenc made
  info.txt           flick info: one line per frame
  flick.md5          flick decode --frame-md5
  vpxdec.md5         the same from vpxdec
  decoded.y4m        flick decode -o (play it with: ffplay $out/decoded.y4m)
DONE
