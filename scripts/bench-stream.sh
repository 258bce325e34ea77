# Sourced by the decode benchmarks: `bench_stream DIR` prints the path of the 720p VP8 stream
# they all decode (DIR/bigbuckbunny-720p.ivf), making it first when it is not there: vpxenc
# --good --cpu-used=2 at 2000 kb/s from all 132 frames of the real clip.
bench_stream() {
    local dir=$1
    local clip=../shared/testdata/clips/bigbuckbunny.mp4
    local stream=$dir/bigbuckbunny-720p.ivf
    if [ ! -f "$clip" ]; then
        echo "bench: $clip not found (shared/ must sit beside the repository)" >&2
        return 1
    fi
    mkdir -p "$dir"
    if [ ! -s "$stream" ]; then
        echo "bench: encoding $clip (1280x720, all frames) with vpxenc --good --cpu-used=2 at 2000 kb/s" >&2
        ffmpeg -hide_banner -loglevel error -nostdin -i "$clip" -pix_fmt yuv420p \
            -f yuv4mpegpipe -y "$dir/clip.y4m"
        vpxenc --codec=vp8 --ivf --quiet --good --cpu-used=2 --target-bitrate=2000 \
            -o "$stream" "$dir/clip.y4m" </dev/null
        rm -f "$dir/clip.y4m"
    fi
    echo "$stream"
}
