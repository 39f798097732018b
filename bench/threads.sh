#!/usr/bin/env bash
# bench/threads.sh - cio's multi-threaded echo servers against Asio's, side by side in one run.
#
#   bench/threads.sh          (or BENCH_THREADS=1 make bench: run.sh then runs it at the end)
#
# Servers (rows): cio-epoll, cio-uring (examples/echo_server with CIO_BACKEND=epoll/io_uring),
# asio (bench/peers/asio_echo.cpp), and with --threads also asio-strand (each session on a
# strand of its own). Modes: t2 = --threads 2 (one context / io_context(2) run by 2 threads),
# c2 = --contexts 2 (2 one-thread contexts, a thread and a SO_REUSEPORT acceptor each).
# The server AND the load generator may use both CPUs (taskset -c 0,1): on 2 cores a 2-thread
# server plus the load generator oversubscribe them, so the per-round-trip costs (CPU time,
# syscalls, context switches) are the figures to compare; the rate is shown beside them.
#
# Per scenario and mode, THR_RUNS interleaved runs per server (cio-epoll, cio-uring, asio, ...,
# then the same order reversed, ...), each a fresh server going through bench/run.sh's own
# run_measured (sourced) with RUNS=1: one BENCH_RATE_SECS rate phase, one counted phase of N
# round trips for CPU time (schedstat, and utime+stime from /proc/PID/stat) and context
# switches, one of N for syscalls (perf tracepoints). Then, with THR_CALLGRIND=1, one callgrind
# run per server (run_callgrind: instructions per round trip; valgrind runs one thread at a
# time, so this counts the instructions of the multi-threaded code paths -- locks, wake-ups --
# but not their contention).
#
# Knobs (environment): THR_SERVERS ("cio-epoll cio-uring asio asio-strand"), THR_MODES
# ("t2 c2"; tN/cN for N threads/contexts), THR_SCENARIOS ("CONNS:SIZE:N_COUNT:N_CALLGRIND ...",
# default "50:64:50000:20000"), THR_RUNS (3), THR_CALLGRIND (1), THR_CPUS (0,1: the server's and
# the load generator's), THR_PORT (first port, 21000; below the ephemeral range), THR_OUT (the table; default in the run's
# /tmp directory), CIO_ECHO (cio's echo_server; default: cio built here in Release into the
# run's /tmp directory, as bench/run.sh builds it), BENCH_RATE_SECS (1.5), BENCH_SYSCALLS,
# BENCH_NO_INSTALL as in bench/run.sh. THR_DIR: the run's directory (default a fresh /tmp one).
set -uo pipefail

# bench/run.sh, sourced, defines its functions and runs nothing.
# shellcheck source=bench/run.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/run.sh"

TMP=${THR_DIR:-$(mktemp -d /tmp/cio-threads.XXXXXX)}
BUILD="$TMP/bench"          # loadgen and asio_echo (run.sh's lg_start runs $BUILD/loadgen)
WORK="$TMP/work"
TSV="$WORK/threads.tsv"
PORT=${THR_PORT:-21000}
RUNS=1                      # run_measured: one rate, one CPU and one syscall phase a start
THR_RUNS=${THR_RUNS:-3}
THR_SERVERS=${THR_SERVERS:-"cio-epoll cio-uring asio asio-strand"}
THR_MODES=${THR_MODES:-"t2 c2"}
THR_SCENARIOS=${THR_SCENARIOS:-"50:64:50000:20000"}
THR_OUT=${THR_OUT:-"$TMP/threads.md"}
SRV_CPUS=${THR_CPUS:-0,1} LG_CPUS=${THR_CPUS:-0,1}
mkdir -p "$BUILD" "$WORK"

# Server names NAME@MODE: run.sh's command line for NAME plus the mode's options.
eval "run_sh_server_argv() $(declare -f server_argv | tail -n +2)"
server_argv() {
    local name=${1%@*} mode=${1#*@} strand=
    [ "$name" = asio-strand ] && { name=asio; strand=--strand; }
    [ "$mode" = "$1" ] && mode=
    case $mode in
        t[0-9]*) run_sh_server_argv "$name" "$2" && printf '%s\n' --threads "${mode#t}" $strand ;;
        c[0-9]*) [ -z "$strand" ] && run_sh_server_argv "$name" "$2" && printf '%s\n' --contexts "${mode#c}" ;;
        *) run_sh_server_argv "$name" "$2" && printf '%s\n' $strand ;;
    esac
}

# CPU time as run.sh reads it, and beside it (for each call, one line in $WORK/tasks.log) the
# context switches of all the server's threads and each thread's on-CPU ns: the line before a
# counted phase and the line after it give the phase's switches and how the threads shared it.
eval "run_sh_cpu_ns() $(declare -f cpu_ns | tail -n +2)"
cpu_ns() {
    local t sw=0 v ns per=""
    for t in /proc/"$1"/task/*; do
        v=$(awk '/^(voluntary|nonvoluntary)_ctxt_switches/ {s += $2} END {print s + 0}' "$t/status" 2>/dev/null)
        sw=$((sw + ${v:-0}))
        read -r ns _ <"$t/schedstat" 2>/dev/null && per+=" ${t##*/}:$ns"
    done
    echo "$sw$per" >>"$WORK/tasks.log"
    run_sh_cpu_ns "$1"
}
# after_run SCEN NAME N: the switches per round trip and the busiest thread's share of the
# server's CPU time in the counted phase (the last two lines of tasks.log)
after_run() {
    tail -2 "$WORK/tasks.log" | awk -v n="$3" '
        NR == 1 { s0 = $1; for (i = 2; i <= NF; i++) { split($i, a, ":"); b[a[1]] = a[2] } }
        NR == 2 { s1 = $1; for (i = 2; i <= NF; i++) { split($i, a, ":"); d = a[2] - b[a[1]]; t += d; if (d > m) m = d } }
        END { if (NR == 2) printf "%.4f %.3f\n", (s1 - s0) / n, (t > 0 ? m / t : 0) }' |
        { read -r csw top || return 0
          put "$1" "$2" csw "$csw"; put "$1" "$2" top "$top"; }
}

main() {
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
install_deps
raise_fd_limit
build_loadgen || { log "loadgen did not build"; exit 1; }
$CXX -O2 -std=c++17 -Wall -Wextra -o "$BUILD/asio_echo" "$BENCH_DIR/peers/asio_echo.cpp" -pthread ||
    log "asio_echo did not build: its rows will be missing"
if [ -z "$CIO_ECHO" ]; then
    log "building cio (Release) in $TMP/cio-build"
    cio_release_build "$ROOT" "$TMP/cio-build" "$WORK/cio-build.log" ||
        log "cio's Release build failed: $WORK/cio-build.log"
    CIO_ECHO="$TMP/cio-build/examples/echo_server"
fi
detect_sc_tool
: >"$TSV"
: >"$WORK/tasks.log"
T_MEASURE=$(date +%s)

for scen in $THR_SCENARIOS; do
    IFS=: read -r c s n ncg <<<"$scen"
    for mode in $THR_MODES; do
        tag="c$c/s$s/$mode"
        names=()
        for sv in $THR_SERVERS; do
            server_available "$sv@$mode" && names+=("$sv@$mode")
        done
        for ((i = 0; i < THR_RUNS; i++)); do
            order=("${names[@]}")
            if ((i % 2)); then order=(); for ((j = ${#names[@]} - 1; j >= 0; j--)); do order+=("${names[j]}"); done; fi
            for sv in "${order[@]}"; do
                case $DEAD_SERVERS in *" $sv "*) continue ;; esac
                log "$tag $sv: rate, CPU, syscalls ($n round trips), run $((i + 1))/$THR_RUNS"
                put "$tag" - load "$(cut -d' ' -f1 /proc/loadavg)"
                run_measured "$tag" "$sv" "$c" "$s" "$n" && after_run "$tag" "$sv" "$n"
            done
        done
        [ "${THR_CALLGRIND:-1}" = 1 ] && command -v valgrind >/dev/null 2>&1 || continue
        for sv in "${names[@]}"; do
            case $DEAD_SERVERS in *" $sv "*) continue ;; esac
            log "$tag $sv: callgrind ($ncg round trips)"
            run_callgrind "$tag" "$sv" "$c" "$s" "$ncg"
        done
    done
done
T_END=$(date +%s)
# the counted round trips per scenario (N_COUNT), for utime+stime per round trip
for scen in $THR_SCENARIOS; do
    IFS=: read -r c s n ncg <<<"$scen"
    for mode in $THR_MODES; do printf 'c%s/s%s/%s\t-\tnrt\t%s\n' "$c" "$s" "$mode" "$n"; done
done >"$WORK/nrt.tsv"
report >"$THR_OUT"
cat "$THR_OUT"
log "done: $THR_OUT (raw: $TSV)"
}

report() {
    local commit dirty
    commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)
    dirty=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo " (with uncommitted changes)")
    echo "## Multi-threaded echo servers: cio against Asio"
    echo
    echo "bench/threads.sh; $(date -u '+%Y-%m-%d %H:%M UTC'); commit \`$commit\`$dirty; $(nproc) CPUs" \
         "($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(uname -sr); load average at" \
         "start $LOADAVG, at end $(cut -d' ' -f1-3 /proc/loadavg); Asio $(dpkg-query -W -f='${Version}' libasio-dev 2>/dev/null);" \
         "cio: \`$CIO_ECHO\`; syscalls: $SC_TOOL; $THR_RUNS interleaved runs per server (fresh server each), ${RATE_SECS} s rate" \
         "phases; server and load generator both on CPUs $SRV_CPUS; measuring took $((T_END - T_MEASURE)) s."
    echo "Each cell: median (min); ratios are the median over cio-epoll's (per mode): below 1 is cheaper,"
    echo "except for the rate. CPU: schedstat on-CPU time of all the server's threads; u+s: utime+stime"
    echo "ticks of /proc/PID/stat (10 ms each); csw: context switches (voluntary + not) of the server;"
    echo "top thr: the busiest thread's share of the server's CPU time; instr/rt: callgrind (threads serialised)."
    echo
    awk -F'\t' -v servers="$THR_SERVERS" -v runs="$THR_RUNS" '
        function sort(list, a,   n, i, j, t) {
            n = split(list, a, " ")
            for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
            return n
        }
        function med(list,   a, n) { n = sort(list, a); return n ? (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) : "" }
        function mn(list,   a, n) { n = sort(list, a); return n ? a[1] : "" }
        function mx(list,   a, n) { n = sort(list, a); return n ? a[n] : "" }
        function cell(list, f) { return list == "" ? "?" : sprintf(f " (" f ")", med(list), mn(list)) }
        function ratio(x, r) { return (x == "" || r == "" || r + 0 == 0) ? "?" : sprintf("%.2fx", x / r) }
        {
            if ($3 == "nrt") { NRT[$1] = $4; next }
            k = $1 SUBSEP $2 SUBSEP $3
            if ($3 == "ticks") { split($4, t, " "); $4 = t[1] + t[2] }
            v[k] = (k in v) ? v[k] " " $4 : $4
            if (!($1 in seen)) { seen[$1] = 1; order[++ns] = $1 }
            if ($3 ~ /^sc_/ && $3 != "sc_total") { nm = substr($3, 4); if (!(nm in sn)) { sn[nm] = 1; names[++nn] = nm } }
        }
        function mix(sc, sv,   i, out, x) {
            out = ""
            for (i = 1; i <= nn; i++) { x = med(v[sc SUBSEP sv SUBSEP "sc_" names[i]]); if (x != "" && x + 0 >= 0.005) out = out (out == "" ? "" : ", ") sprintf("%s %.2f", names[i], x) }
            return out
        }
        END {
            nsv = split(servers, S, " ")
            for (i = 1; i <= ns; i++) { k = order[i] SUBSEP "-" SUBSEP "load"; if (k in v) printf "%s: 1-minute load average before each run %s to %s.\n", order[i], mn(v[k]), mx(v[k]) }
            print ""
            print "| scenario/mode | server | CPU µs/rt | ×cio-epoll | u+s µs/rt | syscalls/rt | ×cio-epoll | csw/rt | top thr | rate rt/s | ×cio-epoll | instr/rt | ×cio-epoll |"
            print "| --- | --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |"
            for (i = 1; i <= ns; i++) {
                sc = order[i]; split(sc, p, "/"); mode = p[3]; rr = "cio-epoll@" mode
                for (j = 1; j <= nsv; j++) {
                    sv = S[j] "@" mode
                    if (!((sc SUBSEP sv SUBSEP "cpu") in v) && !((sc SUBSEP sv SUBSEP "note") in v)) continue
                    if (!((sc SUBSEP sv SUBSEP "cpu") in v)) { printf "| %s | %s | %s |||||||||||\n", sc, S[j], v[sc SUBSEP sv SUBSEP "note"]; continue }
                    # utime+stime: ticks summed over the runs, over the round trips of those runs
                    tk = v[sc SUBSEP sv SUBSEP "ticks"]; m = split(tk, q, " "); tsum = 0; for (x = 1; x <= m; x++) tsum += q[x]
                    rtn = split(v[sc SUBSEP sv SUBSEP "cpu"], q, " ")
                    us = (rtn > 0 && NRT[sc] > 0) ? sprintf("%.2f", tsum * 10000 / (rtn * NRT[sc])) : "?"
                    b = sv == rr ? "**" : ""
                    printf "| %s | %s%s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", sc, b, S[j], b,
                        cell(v[sc SUBSEP sv SUBSEP "cpu"], "%.2f"), ratio(med(v[sc SUBSEP sv SUBSEP "cpu"]), med(v[sc SUBSEP rr SUBSEP "cpu"])),
                        us,
                        cell(v[sc SUBSEP sv SUBSEP "sc_total"], "%.2f"), ratio(med(v[sc SUBSEP sv SUBSEP "sc_total"]), med(v[sc SUBSEP rr SUBSEP "sc_total"])),
                        cell(v[sc SUBSEP sv SUBSEP "csw"], "%.2f"), cell(v[sc SUBSEP sv SUBSEP "top"], "%.2f"),
                        cell(v[sc SUBSEP sv SUBSEP "rate"], "%.0f"), ratio(med(v[sc SUBSEP sv SUBSEP "rate"]), med(v[sc SUBSEP rr SUBSEP "rate"])),
                        v[sc SUBSEP sv SUBSEP "ir"] == "" ? "?" : sprintf("%.0f", v[sc SUBSEP sv SUBSEP "ir"]),
                        ratio(v[sc SUBSEP sv SUBSEP "ir"], v[sc SUBSEP rr SUBSEP "ir"])
                    mixes[++nm2] = sprintf("| %s | %s | %s | %s |", sc, S[j], mix(sc, sv), v[sc SUBSEP sv SUBSEP "mallocs"] == "" ? "?" : sprintf("%.2f", v[sc SUBSEP sv SUBSEP "mallocs"]))
                }
            }
            print ""
            print "Syscall mix per round trip (median) and allocations per round trip (callgrind):"
            print ""
            print "| scenario/mode | server | syscalls | allocs/rt |"
            print "| --- | --- | --- | --: |"
            for (i = 1; i <= nm2; i++) print mixes[i]
            for (k in v) { split(k, z, SUBSEP); if (z[3] == "note" || z[3] == "errors" || z[3] == "stderr") { if (!hdr++) print "\nNotes:\n"; print "- " z[1] " " z[2] ": " z[3] " " v[k] } }
        }' "$WORK/nrt.tsv" "$TSV"
}

# The whole run is one function, read in full before it starts (editing this file during a
# run cannot change it).
main
exit
