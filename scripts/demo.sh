#!/usr/bin/env bash
# The main job: encode the real clip to VP8 with flick's ExCamera[6,16] pipeline on the local
# backend (chunks of 6 frames encoded in parallel by one worker per CPU, each chunk's first
# frame re-encoded from its neighbour's state, rebased serially, one keyframe per batch of 16
# chunks), then check that libvpx's vpxdec and flick's own decoder both decode the stream to
# exactly the pictures flick reconstructed, frame for frame, and plot the pipeline's timeline.
# Installs its own prerequisites, builds flick in release mode, and writes into target/demo/
# (or $FLICK_DEMO_OUT). Extra arguments go to `flick encode` (e.g. --target-bitrate 1500,
# --workers 4, --batch whole).
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
pipeline=(--chunk-frames 6 --batch 16 --timeline "$out/timeline.json")
echo "demo: encoding $clip (1280x720) with flick encode ${pipeline[*]} $*"
"$flick" encode "$out/bigbuckbunny.y4m" -o "$out/bigbuckbunny.ivf" --recon-md5 "${pipeline[@]}" "$@" >"$out/recon.md5"
"$flick" plot-timeline "$out/timeline.json" -o "$out/timeline.png"
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
  bigbuckbunny.ivf   the VP8 stream flick wrote ($bytes bytes; the lines above give kb/s, PSNR, SSIM)
  timeline.json      one record per pipeline task: kind, chunk, worker, start_s, end_s, bytes
  timeline.png       flick plot-timeline: the workers' lanes over time
  recon.md5          flick encode --recon-md5: the encoder's reconstruction, per frame
  vpxdec.md5         vpxdec's frame MD5s (equal to recon.md5)
  flick.md5          flick decode --frame-md5 (equal to recon.md5)
  info.txt           flick info: one line per frame
DONE
