#!/usr/bin/env bash
# bench/file.sh - 4 KiB random reads of a file: cio-uring (native io_uring reads) against
# cio-epoll (cio's file thread pool, 4 threads) against libuv's uv_fs_read (its thread pool,
# 4 threads by default), side by side in one run; writes bench/FILES.md.
#
#   bench/file.sh            (about 30 s of measuring, plus cio's Release build if needed)
#
# The file: FILE_MB (512) MiB of random bytes in FILE_DIR (/tmp; it must be on a disk-backed
# filesystem that takes O_DIRECT, so that every read goes to the device whatever the page
# cache holds: the programs fall back to buffered reads when O_DIRECT is refused, and the
# table then says "direct=0", i.e. it measured the page cache). Programs: bench/micro/
# file_cio.c and file_uv.c (protocol in bench/micro/file_common.h), built with -O2.
# For each queue depth in FILE_QDS ("1 4 16": reads in flight), FILE_RUNS (3) interleaved
# rounds, each running every implementation once in an order rotated by the round; the
# table gives the median rate and CPU time per read, and their ratios to uv.
# Knobs: CIO_REL (a cio Release build tree with libcio.so; default: built here into
# FILE_WORK), FILE_WORK (/tmp/cio-file-bench), FILE_N (20000 reads per run), FILE_OUT
# (bench/FILES.md).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${FILE_WORK:-/tmp/cio-file-bench}
FILE_DIR=${FILE_DIR:-/tmp}
FILE_MB=${FILE_MB:-512}
QDS=${FILE_QDS:-1 4 16}
RUNS=${FILE_RUNS:-3}
N=${FILE_N:-20000}
OUT=${FILE_OUT:-$ROOT/bench/FILES.md}
CC=${CC:-gcc}
mkdir -p "$WORK"

REL=${CIO_REL:-$WORK/release}
if [ ! -f "$REL/libcio.so" ]; then
    cmake -S "$ROOT" -B "$REL" -DCMAKE_BUILD_TYPE=Release -DCIO_BUILD_TESTS=OFF \
        -DCIO_BUILD_EXAMPLES=OFF > "$WORK/cmake.log" 2>&1
    cmake --build "$REL" -j2 >> "$WORK/cmake.log" 2>&1
fi
$CC -O2 -std=c11 -Wall -Wextra -I"$ROOT/include" -o "$WORK/file_cio" \
    "$ROOT/bench/micro/file_cio.c" -L"$REL" -lcio -Wl,-rpath,"$REL" -pthread
$CC -O2 -Wall -Wextra -o "$WORK/file_uv" "$ROOT/bench/micro/file_uv.c" -luv

DATA="$FILE_DIR/cio-file-bench.data"
trap 'rm -f "$DATA"' EXIT
dd if=/dev/urandom of="$DATA" bs=1M count="$FILE_MB" oflag=direct status=none 2>/dev/null ||
    dd if=/dev/urandom of="$DATA" bs=1M count="$FILE_MB" status=none
sync

IMPLS=(cio-uring cio-epoll uv)
run_one() { # impl qd
    case $1 in
        cio-uring) CIO_BACKEND=io_uring "$WORK/file_cio" "$DATA" "$N" "$2" ;;
        cio-epoll) CIO_BACKEND=epoll "$WORK/file_cio" "$DATA" "$N" "$2" ;;
        uv) "$WORK/file_uv" "$DATA" "$N" "$2" ;;
    esac
}

RAW="$WORK/raw.txt"
: > "$RAW"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for qd in $QDS; do
    for ((r = 0; r < RUNS; r++)); do
        for ((k = 0; k < ${#IMPLS[@]}; k++)); do
            impl=${IMPLS[$(((k + r) % ${#IMPLS[@]}))]}
            echo "$impl $qd $(run_one "$impl" "$qd")" >> "$RAW"
        done
    done
done

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
span() { sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.0f–%.0f", lo, hi}'; }
values() { # impl qd key: one value per run
    awk -v i="$1" -v q="$2" -v k="$3" '$1 == i && $2 == q {
        for (f = 3; f <= NF; f++) { split($f, kv, "="); if (kv[1] == k) print kv[2] } }' "$RAW"
}
field() { values "$@" | median; }
direct=$(awk '{for (f = 3; f <= NF; f++) if ($f ~ /^direct=/) {split($f, kv, "="); print kv[2]}}' \
    "$RAW" | sort -u | paste -sd, -)

{
    echo "# Files: 4 KiB random reads (bench/file.sh)"
    echo
    echo "Written by \`bench/file.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), commit" \
        "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), kernel $(uname -r)," \
        "$(nproc) CPUs. Command: \`bench/file.sh\` (FILE_MB=$FILE_MB FILE_N=$N" \
        "FILE_QDS=\"$QDS\" FILE_RUNS=$RUNS). Load average (1, 5, 15 min) before the" \
        "measurements: $load_before; after: $load_after (more than the CPUs: other work shared" \
        "the machine, and the rounds' range shows how much that moved the rates)."
    echo
    echo "$N reads of 4 KiB at random aligned offsets of a $FILE_MB MiB file of random bytes in" \
        "$FILE_DIR ($(stat -f -c %T "$FILE_DIR") on $(df --output=source "$FILE_DIR" | tail -1))," \
        "opened with O_DIRECT (direct=$direct: 1 means every read went to the device, not the" \
        "page cache). \"qd\" reads in flight, each started from a completion. cio-uring: cio's" \
        "random-access file on io_uring (IORING_OP_READ); cio-epoll: the same program on" \
        "epoll, where cio runs file reads on its context's pool of 4 threads; uv: libuv" \
        "$(dpkg-query -W -f='${Version}' libuv1-dev 2>/dev/null || echo '?') uv_fs_read on its" \
        "default pool of 4 threads. Medians of $RUNS interleaved rounds (each round runs all" \
        "three, in an order rotated by the round); CPU is user + system time of the whole" \
        "process (all threads) per read; ratios are to uv (rate: higher is better; CPU: lower)."
    echo
    echo "| qd | impl | reads/s | (rounds' range) | × uv | CPU µs/read | × uv |"
    echo "| --: | --- | --: | --: | --: | --: | --: |"
    for qd in $QDS; do
        uv_rate=$(field uv "$qd" rate)
        uv_cpu=$(field uv "$qd" cpu_us_per_read)
        for impl in "${IMPLS[@]}"; do
            rate=$(field "$impl" "$qd" rate)
            cpu=$(field "$impl" "$qd" cpu_us_per_read)
            range=$(values "$impl" "$qd" rate | span)
            awk -v q="$qd" -v i="$impl" -v r="$rate" -v c="$cpu" -v ur="$uv_rate" -v uc="$uv_cpu" \
                -v g="$range" 'BEGIN { printf "| %s | %s | %.0f | %s | %.2f | %.2f | %.2f |\n",
                                      q, i, r, g, r / ur, c, c / uc }'
        done
    done
    echo
    echo "Raw lines (\`impl qd\` then the program's output), in the order they ran:"
    echo
    echo '```'
    cat "$RAW"
    echo '```'
} > "$OUT"
cat "$OUT"
