#!/usr/bin/env bash
# The main job: encode the real clip to VP8 with flick (serial encoder for now; the parallel
# ExCamera pipeline comes later), then check that libvpx's vpxdec and flick's own decoder both
# decode the stream to exactly the pictures flick's encoder reconstructed, frame for frame.
# Installs its own prerequisites, builds flick in release mode, and writes into target/demo/
# (or $FLICK_DEMO_OUT). Extra arguments go to `flick encode` (e.g. --target-bitrate 1500).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

clip=../shared/testdata/clips/bigbuckbunny.mp4
out=${FLICK_DEMO_OUT:-target/demo}
[ -f "$clip" ] || { echo "demo: $clip not found (shared/ must sit beside the repository)" >&2; exit 1; }

scripts/setup.sh
cargo build --release -p orchestrator
flick=target/release/flick
mkdir -p "$out"

ffmpeg -hide_banner -loglevel error -nostdin -i "$clip" -pix_fmt yuv420p -f yuv4mpegpipe -y "$out/bigbuckbunny.y4m"
echo "demo: encoding $clip (1280x720) with flick encode $*"
"$flick" encode "$out/bigbuckbunny.y4m" -o "$out/bigbuckbunny.ivf" --recon-md5 "$@" >"$out/recon.md5"
rm -f "$out/bigbuckbunny.y4m"

"$flick" info "$out/bigbuckbunny.ivf" >"$out/info.txt"
"$flick" decode "$out/bigbuckbunny.ivf" --frame-md5 >"$out/flick.md5"
vpxdec --codec=vp8 --i420 --md5 -o 'bigbuckbunny-%wx%h-%4.i420' "$out/bigbuckbunny.ivf" >"$out/vpxdec.md5"

frames=$(wc -l <"$out/recon.md5")
for decoder in vpxdec flick; do
    if ! cmp -s "$out/recon.md5" "$out/$decoder.md5"; then
        echo "demo: $decoder's pictures differ from flick's reconstruction:" >&2
        diff "$out/recon.md5" "$out/$decoder.md5" | head -n 10 >&2
        exit 1
    fi
done
bytes=$(stat -c %s "$out/bigbuckbunny.ivf")
echo "demo: vpxdec and flick decode all $frames frames to exactly flick's reconstruction"
cat <<DONE
demo: outputs in $out/
  bigbuckbunny.ivf   the VP8 stream flick wrote ($bytes bytes; the line above gives kb/s, PSNR, SSIM)
  recon.md5          flick encode --recon-md5: the encoder's reconstruction, per frame
  vpxdec.md5         vpxdec's frame MD5s (equal to recon.md5)
  flick.md5          flick decode --frame-md5 (equal to recon.md5)
  info.txt           flick info: one line per frame
DONE
