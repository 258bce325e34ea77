# Sourced by the benchmark scripts: the sources they encode, timing and quality measurement.
# The caller sets `bench` (its name, for messages) and, for time_command, `log`.

ffmpeg_quiet() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }

# Writes clip $1's source as Y4M into $2 with $3 frames (empty: the clip's default):
# bbb720 is the real clip (1280x720, 132 frames), mandelbrot360 a synthetic zoom (640x360,
# 120 frames).
make_source() {
    local clip=$1 y4m=$2 n=$3
    case "$clip" in
        bbb720)
            local mp4=../shared/testdata/clips/bigbuckbunny.mp4
            [ -f "$mp4" ] || { echo "$bench: $mp4 not found (shared/ must sit beside the repository)" >&2; exit 1; }
            ffmpeg_quiet -i "$mp4" -frames:v "${n:-132}" -pix_fmt yuv420p -f yuv4mpegpipe "$y4m" ;;
        mandelbrot360)
            ffmpeg_quiet -f lavfi -i "mandelbrot=size=640x360:rate=25" \
                -frames:v "${n:-120}" -pix_fmt yuv420p -f yuv4mpegpipe "$y4m" ;;
        *) echo "$bench: unknown clip '$clip' (bbb720, mandelbrot360)" >&2; exit 2 ;;
    esac
}

# One line about clip $1, for reports.
describe_clip() {
    case "$1" in
        bbb720) echo "real: Big Buck Bunny, 1280x720 (../shared/testdata/clips/bigbuckbunny.mp4)" ;;
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
