# Sourced by the benchmark scripts: the sources they encode, timing and quality measurement.
# The caller sets `bench` (its name, for messages) and, for time_command, `log`.

ffmpeg_quiet() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }

# The pipeline's test set: the real clip and footage made from it with ffmpeg (a pan, a zoom,
# grain, a static scene, a small talking-head-sized crop, a splice with scene cuts), and a
# synthetic zoom. Never tune to one clip: every figure is reported over all of them.
TEST_SET="bbb720,bbb360,pan360,zoom360,grain360,static360,qcif,cuts360,mandelbrot360"

# Writes clip $1's source as Y4M into $2 with $3 frames (empty: the clip's default):
#   bbb720         the real clip, 1280x720, 132 frames
#   bbb360         the real clip scaled to 640x360, 60 frames: static camera, one scene
#   pan360         a 640x360 window panning right across the 720p clip (10 px a frame) and
#                  bobbing up and down, 60 frames
#   zoom360        a steady zoom into the clip's centre, 640x360, 60 frames
#   grain360       bbb360 with strong temporal grain (ffmpeg noise 14), 60 frames
#   static360      one picture of the clip held for 60 frames with faint sensor noise
#   qcif           a 176x144 crop of the clip's main character (talking-head size), 120 frames
#   cuts360        three scenes spliced, 72 frames: 24 of bbb360, a cut at frame 24 (a chunk
#                  start for 6-frame chunks) to 16 frames of a mirrored close-up, and a cut at
#                  frame 40 (inside a chunk) to 32 frames of the mandelbrot zoom
#   mandelbrot360  a synthetic zoom (ffmpeg lavfi), 640x360, 120 frames
make_source() {
    local clip=$1 y4m=$2 n=$3
    local mp4=../shared/testdata/clips/bigbuckbunny.mp4
    case "$clip" in
        bbb720|bbb360|pan360|zoom360|grain360|static360|qcif|cuts360)
            [ -f "$mp4" ] || { echo "$bench: $mp4 not found (shared/ must sit beside the repository)" >&2; exit 1; } ;;
    esac
    local to_y4m=(-pix_fmt yuv420p -f yuv4mpegpipe "$y4m")
    case "$clip" in
        bbb720)
            ffmpeg_quiet -i "$mp4" -frames:v "${n:-132}" "${to_y4m[@]}" ;;
        bbb360)
            ffmpeg_quiet -i "$mp4" -vf scale=640:360 -frames:v "${n:-60}" "${to_y4m[@]}" ;;
        pan360)
            ffmpeg_quiet -i "$mp4" -vf "crop=640:360:'min(640,n*10)':'120+60*sin(n/20)'" \
                -frames:v "${n:-60}" "${to_y4m[@]}" ;;
        zoom360)
            ffmpeg_quiet -i "$mp4" \
                -vf "zoompan=z='1+0.012*in':d=1:x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':s=640x360:fps=25" \
                -frames:v "${n:-60}" "${to_y4m[@]}" ;;
        grain360)
            ffmpeg_quiet -i "$mp4" -vf "scale=640:360,noise=alls=14:allf=t" \
                -frames:v "${n:-60}" "${to_y4m[@]}" ;;
        static360)
            ffmpeg_quiet -ss 1.2 -i "$mp4" \
                -vf "scale=640:360,loop=loop=-1:size=1:start=0,noise=alls=3:allf=t" \
                -frames:v "${n:-60}" "${to_y4m[@]}" ;;
        qcif)
            ffmpeg_quiet -i "$mp4" -vf "crop=720:590:280:60,scale=176:144" \
                -frames:v "${n:-120}" "${to_y4m[@]}" ;;
        cuts360)
            ffmpeg_quiet -i "$mp4" -ss 2.4 -i "$mp4" -f lavfi -i "mandelbrot=size=640x360:rate=25" \
                -filter_complex "[0:v]scale=640:360,trim=end_frame=24,setpts=PTS-STARTPTS[a];[1:v]crop=640:360:600:200,hflip,trim=end_frame=16,setpts=PTS-STARTPTS[b];[2:v]trim=end_frame=32,setpts=PTS-STARTPTS,fps=25[c];[a][b][c]concat=n=3:v=1[v]" \
                -map "[v]" -frames:v "${n:-72}" "${to_y4m[@]}" ;;
        mandelbrot360)
            ffmpeg_quiet -f lavfi -i "mandelbrot=size=640x360:rate=25" \
                -frames:v "${n:-120}" "${to_y4m[@]}" ;;
        *) echo "$bench: unknown clip '$clip' (one of $TEST_SET)" >&2; exit 2 ;;
    esac
}

# One line about clip $1, for reports.
describe_clip() {
    case "$1" in
        bbb720) echo "real: Big Buck Bunny, 1280x720 (../shared/testdata/clips/bigbuckbunny.mp4)" ;;
        bbb360) echo "real: the clip at 640x360, static camera" ;;
        pan360) echo "made from the clip: a 640x360 pan" ;;
        zoom360) echo "made from the clip: a 640x360 zoom" ;;
        grain360) echo "made from the clip: 640x360 with strong grain" ;;
        static360) echo "made from the clip: a static scene with faint noise, 640x360" ;;
        qcif) echo "made from the clip: a 176x144 crop of the character" ;;
        cuts360) echo "made from the clip: three scenes spliced, cuts at frames 24 and 40, 640x360" ;;
        mandelbrot360) echo "synthetic: ffmpeg lavfi mandelbrot zoom, 640x360" ;;
    esac
}

# Prints "fps WxH frames" of Y4M file $1: its frame rate as a ratio (25:1), its size and
# how many frames it holds (each a 6-byte "FRAME" line and I420 planes, chroma rounded up).
y4m_facts() {
    local y4m=$1 header fps size
    header=$(head -c 200 "$y4m" | head -n 1)
    fps=$(sed -n 's/.* F\([0-9]*:[0-9]*\).*/\1/p' <<<"$header")
    size=$(sed -n 's/.* W\([0-9]*\) H\([0-9]*\).*/\1x\2/p' <<<"$header")
    awk -v total="$(stat -c %s "$y4m")" -v hdr="$((${#header} + 1))" -v wh="$size" -v fps="$fps" 'BEGIN {
        split(wh, d, "x"); frame = d[1] * d[2] + 2 * int((d[1] + 1) / 2) * int((d[2] + 1) / 2)
        print fps, wh, int((total - hdr) / (6 + frame))
    }'
}

# Seconds (wall clock) the command takes; its output is appended to $log.
time_command() {
    local start end
    start=$(date +%s%N)
    "$@" >>"$log" 2>&1 || return $?
    end=$(date +%s%N)
    awk -v ns="$((end - start))" 'BEGIN { printf "%.3f", ns / 1e9 }'
}

# Prints the smallest of its (decimal) arguments.
minimum() { printf '%s\n' "$@" | sort -g | head -n 1; }

# Prints "frames kbps psnr ssim" for IVF stream $1 against Y4M source $2 at frame rate $3
# (a ratio): frames shown, payload kb/s (container overhead left out), ffmpeg's average PSNR
# and SSIM All. Per-frame figures go to $1.stats.psnr and $1.stats.ssim.
measure() {
    local ivf=$1 y4m=$2 fps=$3 stats=$1.stats
    ffmpeg -hide_banner -nostdin -i "$ivf" -i "$y4m" -lavfi \
        "[0:v]split[a][b];[1:v]split[c][d];[a][c]ssim=stats_file=$stats.ssim;[b][d]psnr=stats_file=$stats.psnr" \
        -f null - >"$stats.log" 2>&1 || { echo "$bench: ffmpeg could not measure $ivf (see $stats.log)" >&2; return 1; }
    local size ivf_frames shown ssim psnr
    size=$(stat -c %s "$ivf")
    ivf_frames=$(od -An -tu4 -j24 -N4 "$ivf" | tr -d ' ')
    shown=$(wc -l <"$stats.psnr")
    ssim=$(sed -n 's/.*SSIM .* All:\([0-9.]*\).*/\1/p' "$stats.log" | tail -1)
    psnr=$(sed -n 's/.*PSNR .* average:\([0-9.inf]*\).*/\1/p' "$stats.log" | tail -1)
    awk -v size="$size" -v n="$ivf_frames" -v shown="$shown" -v fps="$fps" -v s="$ssim" -v p="$psnr" 'BEGIN {
        split(fps, r, ":"); seconds = shown / (r[1] / r[2])
        printf "%d %.2f %s %s\n", shown, (size - 32 - 12 * n) * 8 / seconds / 1000, p, s
    }'
}

# Prints the path of the 720p VP8 stream the decode benchmarks decode (DIR/bigbuckbunny-720p.ivf
# for DIR $1), making it first when it is not there: vpxenc --good --cpu-used=2 at 2000 kb/s
# from all 132 frames of the real clip.
bench_stream() {
    local dir=$1
    local stream=$dir/bigbuckbunny-720p.ivf
    mkdir -p "$dir"
    if [ ! -s "$stream" ]; then
        echo "$bench: encoding the real clip (1280x720, all frames) with vpxenc --good --cpu-used=2 at 2000 kb/s" >&2
        make_source bbb720 "$dir/clip.y4m" ""
        vpxenc --codec=vp8 --ivf --quiet --good --cpu-used=2 --target-bitrate=2000 \
            -o "$stream" "$dir/clip.y4m" </dev/null
        rm -f "$dir/clip.y4m"
    fi
    echo "$stream"
}
