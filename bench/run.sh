#!/usr/bin/env bash
# bench/run.sh - cio's benchmark suite: echo servers side by side, plus micro-benchmarks.
#
#   bench/run.sh            (what `make bench` runs)
#
# Installs what it needs (as root, through apt-get), builds the peers and the load generator
# with -O2 into build/bench/, builds cio in Release into build/release/ (if CMakeLists.txt
# exists), runs every scenario against every server, and writes bench/RESULTS.md and
# bench/echo.png. See bench/README.md for what each figure means. Whole run: under 10 minutes
# on the project's 2-core machine.
#
# Knobs (environment):
#   BENCH_SERVERS    servers to run, in table order (default below); unknown/absent ones are
#                    skipped with a note
#   BENCH_SCENARIOS  "CONNS:SIZE:N_COUNT:N_CALLGRIND ..." (N_COUNT round trips per CPU and
#                    syscall run; N_CALLGRIND per callgrind run)
#   BENCH_RATE_SECS  length of one time-mode run (default 1.5); BENCH_RUNS rounds (default 3):
#                    each round starts every server once for one rate and one CPU run, round
#                    k in SERVERS order rotated to start at server k mod N (N servers)
#   BENCH_MICRO=0    skip the micro-benchmarks;  BENCH_ECHO=0  skip the echo scenarios
#   BENCH_NO_INSTALL=1   do not call apt-get;    BENCH_NO_CIO_BUILD=1  do not (re)build cio
#   BENCH_QUICK=1    a short smoke run (shorter phases, 1 round, smaller N) for developing the
#                    harness; its RESULTS.md says so
#   CIO_ECHO         path of cio's echo server (default build/release/examples/echo_server,
#                    else build/examples/echo_server)
#   BENCH_PORT       first TCP port to use (default 17000; every server start takes the next)
#   BENCH_SYSCALLS   perf | strace | none: force the syscall counter (default: perf if its
#                    tracepoints work, else strace)
#   BENCH_CG_THINK_US  think time of the 1-connection callgrind run (default 500)
#   BENCH_IDLE_CONNS   connections of the idle-memory micro-benchmark (default 10000)
#   BENCH_THREADS=1  also run bench/threads.sh (multi-threaded cio against Asio; ~3 minutes)
#   BENCH_UDP=0      skip the UDP echo section (bench/UDP.md; about 3 minutes)
#   BENCH_UDP_SERVERS    UDP peers, in table order (default below)
#   BENCH_UDP_SCENARIOS  "CLIENTS:WINDOW:SIZE:N[:N_CALLGRIND] ..." (N datagrams per CPU and
#                    syscall run; N_CALLGRIND, default N/5, per callgrind run)
#   BENCH_UDP_RATE_SECS  length of one UDP time-mode run (default 0.5); BENCH_UDP_RUNS rounds
#                    (default 2), rotated as the TCP rounds are
# With BENCH_ECHO=0 and BENCH_MICRO=0, RESULTS.md and echo.png are left as they are.
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
BUILD="$ROOT/build/bench"
REL="$ROOT/build/release"
WORK="$BUILD/work"
TSV="$WORK/results.tsv"
MICRO_TSV="$WORK/micro.tsv"
RESULTS="$BENCH_DIR/RESULTS.md"
PNG="$BENCH_DIR/echo.png"
T_START=$(date +%s)

SERVERS=${BENCH_SERVERS:-"cio-epoll cio-uring uv asio asio-uring epoll uring uring-link"}
SCENARIOS=${BENCH_SCENARIOS:-"1:64:10000:2000 50:64:50000:20000 1000:64:50000:20000 50:4096:25000:10000"}
RATE_SECS=${BENCH_RATE_SECS:-1.5}
RUNS=${BENCH_RUNS:-3}
PORT=${BENCH_PORT:-17000}
QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
    RATE_SECS=${BENCH_RATE_SECS:-0.5}
    RUNS=${BENCH_RUNS:-1}
    SCENARIOS=${BENCH_SCENARIOS:-"1:64:3000:1000 50:64:10000:5000 1000:64:10000:5000 50:4096:5000:2000"}
fi

log() { printf '[bench %4ds] %s\n' "$(( $(date +%s) - T_START ))" "$*" >&2; }
note() { NOTES+=("$*"); log "note: $*"; }
NOTES=()
DEAD_SERVERS=" "
RING_FLAGS=
START_ERR=

# ---------------------------------------------------------------------------------------------
# 1. Dependencies
# ---------------------------------------------------------------------------------------------
install_deps() {
    [ "${BENCH_NO_INSTALL:-0}" = 1 ] && return
    local need=() p
    for p in build-essential g++ cmake pkg-config libuv1-dev libasio-dev liburing-dev \
             gnuplot-nox valgrind strace util-linux procps; do
        dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
    done
    if ! command -v perf >/dev/null 2>&1 && ! dpkg -s linux-perf >/dev/null 2>&1; then
        need+=(linux-perf)
    fi
    [ ${#need[@]} -eq 0 ] && return
    if [ "$(id -u)" -ne 0 ]; then
        log "not root: cannot install ${need[*]}; continuing with what is there"
        return
    fi
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || true
    local opt=()
    for p in "${need[@]}"; do
        if [ "$p" = linux-perf ] && ! apt-cache show linux-perf >/dev/null 2>&1; then
            note "linux-perf is not available from apt; syscalls are counted with strace"
            continue
        fi
        opt+=("$p")
    done
    [ ${#opt[@]} -gt 0 ] && apt-get install -y -qq --no-install-recommends "${opt[@]}" >/dev/null 2>&1 \
        || { [ ${#opt[@]} -gt 0 ] && log "apt-get install failed for some of: ${opt[*]}"; }
}

# ---------------------------------------------------------------------------------------------
# 2. Builds
# ---------------------------------------------------------------------------------------------
CC=${CC:-cc}
CXX=${CXX:-g++}
build_loadgen() { mkdir -p "$BUILD"; $CC -O2 -Wall -Wextra -o "$BUILD/loadgen" "$BENCH_DIR/loadgen.c"; }
build_all() {
    mkdir -p "$BUILD" "$WORK"
    local ok=1
    build_loadgen || ok=0
    $CC -O2 -Wall -Wextra -o "$BUILD/epoll_echo" "$BENCH_DIR/peers/epoll_echo.c" || ok=0
    $CC -O2 -Wall -Wextra -o "$BUILD/uv_echo" "$BENCH_DIR/peers/uv_echo.c" -luv || ok=0
    $CC -O2 -Wall -Wextra -o "$BUILD/uring_echo" "$BENCH_DIR/peers/uring_echo.c" -luring || ok=0
    $CXX -O2 -std=c++17 -Wall -Wextra -o "$BUILD/asio_echo" "$BENCH_DIR/peers/asio_echo.cpp" -pthread &
    local asio_pid=$!
    # The same server on Asio's io_uring backend (Asio 1.21+): ASIO_HAS_IO_URING with
    # ASIO_DISABLE_EPOLL makes io_uring its scheduler for sockets as well as files.
    $CXX -O2 -std=c++17 -Wall -Wextra -DASIO_HAS_IO_URING -DASIO_DISABLE_EPOLL \
        -o "$BUILD/asio_uring_echo" "$BENCH_DIR/peers/asio_echo.cpp" -pthread -luring &
    local asio_uring_pid=$!
    $CC -O2 -Wall -Wextra -o "$BUILD/post_uv" "$BENCH_DIR/micro/post_uv.c" -luv -pthread || ok=0
    $CC -O2 -Wall -Wextra -o "$BUILD/timers_uv" "$BENCH_DIR/micro/timers_uv.c" -luv || ok=0
    $CXX -O2 -std=c++17 -Wall -Wextra -o "$BUILD/post_asio" "$BENCH_DIR/micro/post_asio.cpp" -pthread || ok=0
    $CXX -O2 -std=c++17 -Wall -Wextra -o "$BUILD/timers_asio" "$BENCH_DIR/micro/timers_asio.cpp" -pthread || ok=0
    $CXX -O2 -std=c++17 -Wall -Wextra -o "$BUILD/strand_asio" "$BENCH_DIR/micro/strand_asio.cpp" -pthread || ok=0
    $CXX -O2 -std=c++17 -Wall -Wextra -o "$BUILD/pool_asio" "$BENCH_DIR/micro/pool_asio.cpp" -pthread || ok=0
    $CXX -O2 -std=c++17 -Wall -Wextra -o "$BUILD/deadline_asio" "$BENCH_DIR/micro/deadline_asio.cpp" -pthread || ok=0
    $CC -O2 -Wall -Wextra -o "$BUILD/deadline_uv" "$BENCH_DIR/micro/deadline_uv.c" -luv || ok=0
    build_udp_peers || ok=0
    wait $asio_pid || ok=0
    wait $asio_uring_pid || ok=0
    [ $ok = 1 ] || log "some peer builds failed (see above); their rows will be missing"
}

# The UDP load generator and the UDP peers that do not need cio.
build_udp_peers() {
    local ok=1
    $CC -O2 -Wall -Wextra -o "$BUILD/udp_loadgen" "$BENCH_DIR/udp_loadgen.c" || ok=0
    $CC -O2 -Wall -Wextra -o "$BUILD/udp_epoll" "$BENCH_DIR/peers/udp_epoll.c" || ok=0
    $CC -O2 -Wall -Wextra -o "$BUILD/udp_epoll_mmsg" "$BENCH_DIR/peers/udp_epoll_mmsg.c" || ok=0
    $CC -O2 -Wall -Wextra -o "$BUILD/udp_uv" "$BENCH_DIR/peers/udp_uv.c" -luv || ok=0
    $CXX -O2 -std=c++17 -Wall -Wextra -o "$BUILD/udp_asio" "$BENCH_DIR/peers/udp_asio.cpp" -pthread || ok=0
    [ $ok = 1 ]
}

CIO_ECHO=${CIO_ECHO:-}
# cio_release_build SRC DIR LOG: cio (source tree SRC) in Release into DIR, as measured here
# (also used by bench/compare.sh)
cio_release_build() {
    cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release -DCIO_BUILD_TESTS=OFF \
        -DCIO_WERROR=OFF -DCIO_BUILD_EXAMPLES=ON >"$3" 2>&1 &&
        cmake --build "$2" -j "$(nproc)" >>"$3" 2>&1
}
build_cio() {
    if [ -f "$ROOT/CMakeLists.txt" ] && [ "${BENCH_NO_CIO_BUILD:-0}" != 1 ]; then
        log "building cio (Release) in build/release"
        if ! cio_release_build "$ROOT" "$REL" "$WORK/cio-cmake.log"; then
            note "cio's Release build failed (log: build/bench/work/cio-cmake.log)"
        fi
    fi
    if [ -z "$CIO_ECHO" ]; then
        for c in "$REL/examples/echo_server" "$ROOT/build/examples/echo_server"; do
            [ -x "$c" ] && { CIO_ECHO=$c; break; }
        done
    fi
    # cio halves of the micro-benchmarks, when they have been written (see bench/README.md).
    local m
    for m in post timers strand pool deadline; do
        if [ -f "$BENCH_DIR/micro/${m}_cio.c" ] && [ -f "$REL/libcio.so" ]; then
            $CC -O2 -std=c11 -I"$ROOT/include" -o "$BUILD/${m}_cio" \
                "$BENCH_DIR/micro/${m}_cio.c" -L"$REL" -lcio -Wl,-rpath,"$REL" -pthread \
                || note "bench/micro/${m}_cio.c did not build"
        fi
    done
    # the cio UDP peer (needs cio/udp.h and its implementation in libcio)
    if [ "${BENCH_UDP:-1}" = 1 ] && [ -f "$REL/libcio.so" ]; then
        rm -f "$BUILD/udp_cio"
        $CC -O2 -std=c11 -I"$ROOT/include" -o "$BUILD/udp_cio" "$BENCH_DIR/peers/udp_cio.c" \
            -L"$REL" -lcio -Wl,-rpath,"$REL" 2>"$WORK/udp_cio.log" ||
            note "bench/peers/udp_cio.c did not build (cio's UDP sockets missing?): $(grep -m1 -i 'error\|undefined' "$WORK/udp_cio.log" | head -c 200)"
    fi
}

# ---------------------------------------------------------------------------------------------
# 3. Servers
# ---------------------------------------------------------------------------------------------
# server_argv NAME PORT -> the command line (one word per line), or nothing if unavailable.
server_argv() {
    local name=$1 port=$2
    case $name in
        epoll)      printf '%s\n' "$BUILD/epoll_echo" "$port" ;;
        uv)         printf '%s\n' "$BUILD/uv_echo" "$port" ;;
        asio)       printf '%s\n' "$BUILD/asio_echo" "$port" ;;
        asio-uring) printf '%s\n' "$BUILD/asio_uring_echo" "$port" ;;
        uring)      printf '%s\n' "$BUILD/uring_echo" "$port" ;;
        uring-link) printf '%s\n' "$BUILD/uring_echo" "$port" -l ;;
        cio)        [ -n "$CIO_ECHO" ] && printf '%s\n' "$CIO_ECHO" "$port" ;;
        cio-epoll)  [ -n "$CIO_ECHO" ] && printf '%s\n' env CIO_BACKEND=epoll "$CIO_ECHO" "$port" ;;
        cio-uring)  [ -n "$CIO_ECHO" ] && printf '%s\n' env CIO_BACKEND=io_uring "$CIO_ECHO" "$port" ;;
        cio-poll)   [ -n "$CIO_ECHO" ] && printf '%s\n' env CIO_BACKEND=poll "$CIO_ECHO" "$port" ;;
        # UDP echo peers (section 7b): "udp-" and the name of their row in UDP.md
        udp-epoll)  printf '%s\n' "$BUILD/udp_epoll" "$port" ;;
        udp-mmsg)   printf '%s\n' "$BUILD/udp_epoll_mmsg" "$port" ;;
        udp-uv)     printf '%s\n' "$BUILD/udp_uv" "$port" ;;
        udp-asio)   printf '%s\n' "$BUILD/udp_asio" "$port" ;;
        udp-cio-per-epoll)   printf '%s\n' env CIO_BACKEND=epoll "$BUILD/udp_cio" "$port" per ;;
        udp-cio-per-uring)   printf '%s\n' env CIO_BACKEND=io_uring "$BUILD/udp_cio" "$port" per ;;
        udp-cio-batch-epoll) printf '%s\n' env CIO_BACKEND=epoll "$BUILD/udp_cio" "$port" batch ;;
        udp-cio-batch-uring) printf '%s\n' env CIO_BACKEND=io_uring "$BUILD/udp_cio" "$port" batch ;;
    esac
}

server_available() {
    local argv
    mapfile -t argv < <(server_argv "$1" 1)
    [ ${#argv[@]} -gt 0 ] || return 1
    local exe=${argv[0]}
    [ "$exe" = env ] && exe=${argv[2]}
    [ -x "$exe" ]
}

# wait_listen PORT SECONDS PID [udp]: wait until something listens on 127.0.0.1:PORT (with
# udp: a UDP socket is bound there; fails at once if PID exits).
wait_listen() {
    local hex i table=/proc/net/tcp state=0A
    [ "${4:-tcp}" = udp ] && table=/proc/net/udp state=07
    hex=$(printf '%04X' "$1")
    for ((i = 0; i < $2 * 20; i++)); do
        case $(awk '{print $3}' /proc/"$3"/stat 2>/dev/null) in ""|Z) return 1 ;; esac
        grep -q "^ *[0-9]*: 0100007F:$hex 00000000:0000 $state" "$table" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

SRV_PID=
SRV_CPUS=0 LG_CPUS=1  # CPUs of the echo server and of the load generator (bench/threads.sh: 0,1 both)
# start_server NAME PORT [valgrind args...]
start_server() {
    local name=$1 port=$2
    shift 2
    local argv
    mapfile -t argv < <(server_argv "$name" "$port")
    local pre=()
    if [ $# -gt 0 ]; then
        # valgrind goes after `env VAR=...` so that the server, not env, is instrumented
        if [ "${argv[0]}" = env ]; then pre=(env "${argv[1]}"); argv=("${argv[@]:2}"); fi
        pre+=(valgrind "$@")
    fi
    taskset -c "$SRV_CPUS" "${pre[@]}" "${argv[@]}" >"$WORK/server.out" 2>"$WORK/server.err" &
    SRV_PID=$!
    local patience=10
    [ $# -gt 0 ] && patience=30  # valgrind starts slowly
    local proto=tcp
    case $name in udp-*) proto=udp ;; esac
    if ! wait_listen "$port" "$patience" "$SRV_PID" "$proto"; then
        START_ERR=$(grep -v "^==" "$WORK/server.err" | head -c 300 | tr "\n\t" "  ")
        log "$name did not start listening on port $port: $START_ERR"
        stop_server
        return 1
    fi
}

stop_server() {
    [ -n "$SRV_PID" ] || return 0
    kill -TERM "$SRV_PID" 2>/dev/null
    local i
    for ((i = 0; i < 20; i++)); do
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$SRV_PID" 2>/dev/null
    wait "$SRV_PID" 2>/dev/null
    SRV_PID=
}

next_port() { PORT=$((PORT + 1)); }

# start_or_note PUT SCEN NAME SERVER [callgrind]: starts SERVER on the next port (under
# callgrind, as run_callgrind and udp_callgrind measure it, when asked), or puts a note that
# it did not start (through PUT SCEN NAME note ...) and fails
start_or_note() {
    local out=$1 scen=$2 name=$3 server=$4 what="" cg=()
    if [ "${5:-}" = callgrind ]; then
        what=" under callgrind"
        cg=(--tool=callgrind --callgrind-out-file="$WORK/cg.out" --dump-instr=no --dump-line=no
            --compress-strings=no)
    fi
    next_port
    START_ERR=
    start_server "$server" "$PORT" "${cg[@]}" && return 0
    "$out" "$scen" "$name" note "did not start$what: ${START_ERR:-nothing listening on its port}"
    return 1
}

# server_runnable PUT SCEN NAME SERVER DEAD: whether SERVER is to run in SCEN: not when its
# binary is absent, nor when it did not start in an earlier scenario (NAME is in the list
# DEAD); either is put as a row through PUT SCEN NAME
server_runnable() {
    server_available "$4" || { "$1" "$2" "$3" absent 1; return 1; }
    case $5 in *" $3 "*)
        "$1" "$2" "$3" note "skipped: it did not start in an earlier scenario"
        return 1 ;;
    esac
}

# measured_phase_list RUNS SECS N [SC]: the phases of a measured run (-P): RUNS time phases
# of SECS, RUNS count phases of N (CPU time), and with SC 1 (the default) one more (syscalls)
measured_phase_list() {
    local i out=""
    for ((i = 0; i < $1; i++)); do out+="d$2,"; done
    for ((i = 0; i < $1; i++)); do out+="n$3,"; done
    [ "${4:-1}" = 1 ] && out+="n$3,"
    echo "${out%,}"
}

# scenario_rounds ROUNDS WHAT PUT TAG PREFIX DEAD_VAR ROUND CALLGRIND SERVERS...: one
# scenario's measurements. The servers that can run (server_runnable PUT TAG NAME PREFIXNAME
# with the list in the variable named DEAD_VAR; N of them) go through ROUNDS rounds in which
# ROUND NAME K (K from 0) runs once for each: round k in their order rotated to start at
# server k mod N, so that no server always goes first (each round's order is logged under
# WHAT). Then, with valgrind, CALLGRIND NAME for each, in table order, but for those that
# did not start (DEAD_VAR again).
scenario_rounds() {
    local rounds=$1 what=$2 out=$3 tag=$4 prefix=$5 dead=$6 round=$7 cg_run=$8 k i name
    shift 8
    local names=() order
    for name in "$@"; do
        server_runnable "$out" "$tag" "$name" "$prefix$name" "${!dead}" && names+=("$name")
    done
    for ((k = 0; k < rounds && ${#names[@]} > 0; k++)); do
        order=()
        for ((i = 0; i < ${#names[@]}; i++)); do order+=("${names[(k + i) % ${#names[@]}]}"); done
        log "$what round $((k + 1))/$rounds, order: ${order[*]}"
        for name in "${order[@]}"; do
            case ${!dead} in *" $name "*) continue ;; esac  # did not start in an earlier round
            "$round" "$name" "$k"
        done
    done
    command -v valgrind >/dev/null 2>&1 || return 0
    for name in "${names[@]}"; do
        case ${!dead} in *" $name "*) continue ;; esac
        "$cg_run" "$name"
    done
}

# ---------------------------------------------------------------------------------------------
# 4. Load generator driving (sync points through two FIFOs)
# ---------------------------------------------------------------------------------------------
LG_PID="" LG_R="" LG_W=""
LG_EXE=  # the load generator lg_start runs (empty: build/bench/loadgen)
lg_start() {  # lg_start ARGS... (stdout/stdin are the FIFOs)
    rm -f "$WORK/lg.in" "$WORK/lg.out"
    mkfifo "$WORK/lg.in" "$WORK/lg.out"
    taskset -c "$LG_CPUS" "${LG_EXE:-$BUILD/loadgen}" "$@" -y -q <"$WORK/lg.in" >"$WORK/lg.out" 2>"$WORK/lg.err" &
    LG_PID=$!
    exec {LG_W}>"$WORK/lg.in"
    exec {LG_R}<"$WORK/lg.out"
}
# lg_expect WORD [TIMEOUT]: read the next line; it must start with WORD. Sets LINE.
LINE=
lg_expect() {
    LINE=
    if ! IFS= read -r -t "${2:-300}" -u "$LG_R" LINE; then
        log "loadgen: expected $1, got end of output or time-out; stderr: $(tail -c 300 "$WORK/lg.err")"
        return 1
    fi
    case $LINE in "$1"*) return 0 ;; esac
    log "loadgen: expected $1, got: $LINE"
    return 1
}
lg_go() { echo go >&"$LG_W"; }
lg_finish() {
    [ -n "$LG_W" ] && exec {LG_W}>&-
    [ -n "$LG_R" ] && exec {LG_R}<&-
    LG_W="" LG_R=""
    if [ -n "$LG_PID" ]; then
        local i
        for ((i = 0; i < 100; i++)); do kill -0 "$LG_PID" 2>/dev/null || break; sleep 0.05; done
        kill "$LG_PID" 2>/dev/null
        wait "$LG_PID" 2>/dev/null
    fi
    LG_PID=
}
field() { local k=$1; shift; printf '%s\n' "$*" | tr ' ' '\n' | sed -n "s/^$k=//p"; }

# CPU time of a process (all its threads): on-CPU ns from schedstat, and utime/stime ticks.
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }
cpu_ticks() { awk '{print $14, $15}' /proc/"$1"/stat; }

put() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$TSV"; }

# ---------------------------------------------------------------------------------------------
# 5. Syscall counting: perf tracepoints (preferred) or strace -c
# ---------------------------------------------------------------------------------------------
SC_LIST="read write recvfrom sendto recvmsg sendmsg readv writev epoll_wait epoll_pwait
epoll_pwait2 epoll_ctl io_uring_enter futex accept4 eventfd2 timerfd_settime ppoll poll
recvmmsg sendmmsg"
SC_TOOL=strace
detect_sc_tool() {
    if [ -n "${BENCH_SYSCALLS:-}" ]; then SC_TOOL=$BENCH_SYSCALLS; return; fi
    if command -v perf >/dev/null 2>&1 &&
       perf stat -x, -e raw_syscalls:sys_enter -o "$WORK/perf.probe" -- true >/dev/null 2>&1 &&
       grep -q '^[0-9][0-9]*,,raw_syscalls:sys_enter' "$WORK/perf.probe"; then
        SC_TOOL=perf
    elif ! command -v strace >/dev/null 2>&1; then
        SC_TOOL=none
        note "neither perf tracepoints nor strace work: no syscall counts"
    fi
}

SC_PID="" SC_C="" SC_A=""
sc_start() {  # sc_start PID: start counting the syscalls of PID (returns when counting)
    if [ $SC_TOOL = perf ]; then
        rm -f "$WORK/perf.ctl" "$WORK/perf.ack" "$WORK/perf.out"
        mkfifo "$WORK/perf.ctl" "$WORK/perf.ack"
        local ev=(-e raw_syscalls:sys_enter) s
        for s in $SC_LIST; do
            [ -d /sys/kernel/tracing/events/syscalls/sys_enter_$s ] ||
                [ -d /sys/kernel/debug/tracing/events/syscalls/sys_enter_$s ] || continue
            ev+=(-e "syscalls:sys_enter_$s")
        done
        perf stat -x, -o "$WORK/perf.out" "${ev[@]}" -D -1 \
            --control "fifo:$WORK/perf.ctl,$WORK/perf.ack" -p "$1" >/dev/null 2>"$WORK/perf.err" &
        SC_PID=$!
        exec {SC_C}>"$WORK/perf.ctl"
        exec {SC_A}<"$WORK/perf.ack"
        echo enable >&"$SC_C"
        read -r -t 30 -u "$SC_A" _ || log "perf did not acknowledge enable"
    elif [ $SC_TOOL = strace ]; then
        rm -f "$WORK/strace.out"
        strace -c -f -p "$1" -o "$WORK/strace.out" 2>"$WORK/strace.err" &
        SC_PID=$!
        local i
        for ((i = 0; i < 100; i++)); do
            grep -q attached "$WORK/strace.err" 2>/dev/null && break
            sleep 0.05
        done
        sleep 0.1
    fi
}
# sc_stop: stop counting; prints "total N", then one "NAME N" line per syscall seen
sc_stop() {
    if [ $SC_TOOL = perf ] && [ -n "$SC_PID" ]; then
        echo disable >&"$SC_C"
        read -r -t 30 -u "$SC_A" _
        kill -INT "$SC_PID" 2>/dev/null
        wait "$SC_PID" 2>/dev/null
        exec {SC_C}>&- {SC_A}<&-
        awk -F, '/^#/ || NF < 3 {next}
                 $3 == "raw_syscalls:sys_enter" {print "total", $1+0; next}
                 { n = $3; sub(/^syscalls:sys_enter_/, "", n); if ($1+0 > 0) print n, $1+0 }' \
            "$WORK/perf.out"
    elif [ $SC_TOOL = strace ] && [ -n "$SC_PID" ]; then
        kill -INT "$SC_PID" 2>/dev/null
        wait "$SC_PID" 2>/dev/null
        # lines: % time, seconds, usecs/call, calls, [errors], syscall
        awk '$NF == "total" {print "total", $4; next}
             $1 ~ /^[0-9.]+$/ && NF >= 5 {print $NF, $4}' \
            "$WORK/strace.out"
    fi
    SC_PID=
}

# ---------------------------------------------------------------------------------------------
# 6. One scenario x one server
# ---------------------------------------------------------------------------------------------
# measured_phases RUNS COUNT PUT RECORD SCEN NAME [SC]: drives the phases of a measured run
# (the load generator started with RUNS time phases, RUNS count phases and, with SC 1 (the
# default), one more count phase; the server is SRV_PID): samples the server's CPU time
# around the RUNS count phases and counts its syscalls in the extra one, and puts them
# through PUT SCEN NAME KEY VALUE per round trip or datagram (field COUNT of the RESULT
# line). RECORD SCEN NAME IS_RATE runs after each RESULT line (in LINE; IS_RATE 1 for a time
# phase). Sets MP_OK (0: the load generator failed).
MP_OK=0
measured_phases() {
    local runs=$1 count=$2 out=$3 record=$4 scen=$5 name=$6
    local p total=$(( 2 * runs + ${7:-1} )) c0 c1 t0 t1 n
    MP_OK=1
    for ((p = 1; p <= total; p++)); do
        lg_expect WARM || { MP_OK=0; break; }
        if ((p > runs && p <= 2 * runs)); then
            c0=$(cpu_ns "$SRV_PID"); t0=$(cpu_ticks "$SRV_PID")
        elif ((p > 2 * runs)); then
            sc_start "$SRV_PID"
        fi
        lg_go
        lg_expect DONE || { MP_OK=0; break; }
        if ((p > runs && p <= 2 * runs)); then
            c1=$(cpu_ns "$SRV_PID"); t1=$(cpu_ticks "$SRV_PID")
        elif ((p > 2 * runs)); then
            sc_stop >"$WORK/sc.txt"
        fi
        lg_go
        lg_expect RESULT || { MP_OK=0; break; }
        n=$(field "$count" "$LINE")
        "$record" "$scen" "$name" "$((p <= runs ? 1 : 0))"
        if ((p > runs && p <= 2 * runs)); then
            put_cpu "$out" "$scen" "$name" "$n" "$c0" "$c1" "$t0" "$t1"
        elif ((p > 2 * runs)); then
            put_syscalls "$out" "$scen" "$name" "$n"
        fi
    done
    [ -n "$SC_PID" ] && sc_stop >/dev/null
}

# tcp_record SCEN NAME IS_RATE: a TCP phase's errors, and a time phase's rate and latency
tcp_record() {
    local errs
    errs=$(field errors "$LINE")
    [ "$errs" = 0 ] || put "$1" "$2" errors "$errs"
    [ "$3" = 1 ] || return 0
    put "$1" "$2" rate "$(field rate "$LINE")"
    put "$1" "$2" p50 "$(field p50_us "$LINE")"
    put "$1" "$2" p99 "$(field p99_us "$LINE")"
}

# put_cpu PUT SCEN NAME N C0 C1 "T0" "T1": a CPU run's figures through PUT SCEN NAME KEY VALUE:
# cpu (µs per round trip or datagram, N of them, from the on-CPU ns C0 before and C1 after)
# and ticks (utime and stime over the run, from the "utime stime" pairs T0 and T1)
put_cpu() {
    local out=$1 scen=$2 name=$3 n=$4 c0=$5 c1=$6 t0=$7 t1=$8
    "$out" "$scen" "$name" cpu "$(awk -v a="$c0" -v b="$c1" -v n="$n" 'BEGIN {printf "%.4f", (b - a) / n / 1000}')"
    set -- $t0 $t1
    "$out" "$scen" "$name" ticks "$(( $3 - $1 )) $(( $4 - $2 ))"
}

# put_syscalls PUT SCEN NAME N: the syscall run's counts ($WORK/sc.txt, from sc_stop) per
# round trip or datagram (N of them), as sc_<name> and sc_total, through PUT
put_syscalls() {
    local out=$1 scen=$2 name=$3 n=$4 k v
    while read -r k v; do
        [ -n "$k" ] && "$out" "$scen" "$name" "sc_$k" "$(awk -v v="$v" -v n="$n" 'BEGIN {printf "%.4f", v / n}')"
    done <"$WORK/sc.txt"
}

# run_measured SCEN NAME C S N [RUNS [SC]]: one server start: RUNS (default $RUNS) time
# phases of RATE_SECS, RUNS CPU phases of N round trips and, with SC 1 (the default), a
# syscall phase of N
run_measured() {
    local scen=$1 name=$2 c=$3 s=$4 n=$5 runs=${6:-$RUNS} sc=${7:-1}
    local w=$(( c * 3 > 2000 ? c * 3 : 2000 ))
    start_or_note put "$scen" "$name" "$name" || { DEAD_SERVERS+=" $name "; return 1; }
    lg_start -p "$PORT" -c "$c" -s "$s" -w "$w" -P "$(measured_phase_list "$runs" "$RATE_SECS" "$n" "$sc")"
    measured_phases "$runs" rts put tcp_record "$scen" "$name" "$sc"
    local ok=$MP_OK
    lg_finish
    stop_server
    [ $ok = 1 ] || put "$scen" "$name" note "load generator failed"
    if [ $ok = 0 ]; then
        grep -v '^$' "$WORK/server.err" | head -3 | while read -r l; do put "$scen" "$name" stderr "$l"; done
    fi
    case $name in uring*) grep -q "ring flags" "$WORK/server.err" && RING_FLAGS=$(grep -m1 "ring flags" "$WORK/server.err" | sed "s/, link mode//") ;; esac
    return 0
}

count_allocs() {  # CALLGRIND_FILE: calls to the C allocator recorded in one dump
    # Every call site of a callee is a "calls=COUNT ..." line after its "cfn=NAME" line
    # (--compress-strings=no); the counts of the allocator's entry points are summed.
    awk '/^cfn=/ { f = substr($0, 5); sub(/[ \047].*/, "", f) }
         /^calls=/ && f ~ /^(malloc|calloc|realloc|reallocarray|aligned_alloc|posix_memalign|memalign|valloc)$/ {
             split(substr($0, 7), c, " "); n += c[1] }
         END { print n + 0 }' "$1"
}

run_callgrind() {  # SCEN NAME C S N
    # Two measured phases, N1 = N/5 and N2 = N round trips, each between two callgrind dumps
    # (dump 0 before phase 1, dump 1 between, dump 2 after). Both windows have the same
    # structure (end of one control request, the round trips, start of the next), so
    # Ir/rt = (Ir(window 2) - Ir(window 1)) / (N2 - N1) cancels every constant cost exactly.
    local scen=$1 name=$2 c=$3 s=$4 n=$5
    local w=$(( c * 3 > 2000 ? c * 3 : 2000 ))
    local n1=$(( n / 5 )) n2=$n
    rm -f "$WORK"/cg.out*
    start_or_note put "$scen" "$name" "$name" callgrind || return 1
    # One connection: a think time after each echo lets the (valgrind-slowed) server finish
    # its turn and go back to waiting before the next message arrives, as it does natively;
    # without it a speculative read would find the next message early under valgrind only.
    local think=()
    [ "$c" = 1 ] && think=(-t "${BENCH_CG_THINK_US:-500}")
    lg_start -p "$PORT" -c "$c" -s "$s" -w "$w" -P "n$n1,n$n2" "${think[@]}"
    callgrind_windows rts tcp_cg_check "$scen" "$name"
    callgrind_figures put "$scen" "$name"
}

# tcp_cg_check SCEN NAME: a callgrind phase's load generator errors, from LINE
tcp_cg_check() {
    [ "$(field errors "$LINE")" = 0 ] || put "$1" "$2" errors "$(field errors "$LINE") (under callgrind)"
}

# callgrind_windows COUNT_FIELD CHECK ARGS...: drives the two phases of a callgrind run (the
# load generator started with -P nN1,nN2; the server under callgrind as SRV_PID), dumping
# the counters at the sync points, then stops both. CHECK ARGS... runs after each phase's
# RESULT line (in LINE). Sets CG_OK (1: all went well) and CG_N1, CG_N2 (the phases' counts,
# field COUNT_FIELD).
CG_OK=0 CG_N1=0 CG_N2=0
callgrind_windows() {
    local count=$1 check=$2 p
    shift 2
    CG_OK=1 CG_N1=0 CG_N2=0
    for p in 1 2; do
        lg_expect WARM 600 || { CG_OK=0; break; }
        if [ $p = 1 ]; then
            callgrind_control -d "$SRV_PID" >/dev/null 2>&1 || { CG_OK=0; break; }
        fi
        lg_go
        lg_expect DONE 600 || { CG_OK=0; break; }
        callgrind_control -d "$SRV_PID" >/dev/null 2>&1 || { CG_OK=0; break; }
        lg_go
        lg_expect RESULT 60 || { CG_OK=0; break; }
        "$check" "$@"
        if [ $p = 1 ]; then CG_N1=$(field "$count" "$LINE"); else CG_N2=$(field "$count" "$LINE"); fi
    done
    lg_finish
    stop_server
}

# callgrind_figures PUT SCEN NAME: from the dumps of callgrind_windows, instructions per
# round trip (or datagram), allocation calls per round trip, and the constant part of a
# window, each through PUT SCEN NAME KEY VALUE; a note if the run failed. Returns 1 then.
callgrind_figures() {
    local out=$1 scen=$2 name=$3 w1 w2 m1 m2
    w1=$(awk '/^totals:/ {print $2}' "$WORK/cg.out.2" 2>/dev/null)
    w2=$(awk '/^totals:/ {print $2}' "$WORK/cg.out.3" 2>/dev/null)
    if [ $CG_OK != 1 ] || [ -z "$w1" ] || [ -z "$w2" ] || [ "$CG_N2" -le "$CG_N1" ]; then
        "$out" "$scen" "$name" note "callgrind run failed"
        return 1
    fi
    "$out" "$scen" "$name" ir "$(awk -v a="$w1" -v b="$w2" -v n1="$CG_N1" -v n2="$CG_N2" 'BEGIN {printf "%.1f", (b - a) / (n2 - n1)}')"
    # allocation calls (malloc, calloc, realloc, aligned allocs; C++ new calls malloc), from
    # the same two windows
    m1=$(count_allocs "$WORK/cg.out.2"); m2=$(count_allocs "$WORK/cg.out.3")
    "$out" "$scen" "$name" mallocs "$(awk -v a="$m1" -v b="$m2" -v n1="$CG_N1" -v n2="$CG_N2" 'BEGIN {printf "%.3f", (b - a) / (n2 - n1)}')"
    # the constant part of a window (control requests, wake-ups): diagnostic only
    "$out" "$scen" "$name" ir_const "$(awk -v a="$w1" -v b="$w2" -v n1="$CG_N1" -v n2="$CG_N2" 'BEGIN {printf "%.0f", a - n1 * (b - a) / (n2 - n1)}')"
}

# echo_round NAME ROUND: one server start of a round of run_echo (its scenario: tag, c, s and
# n of run_echo): one rate phase and one CPU phase, and in the first round the syscall phase
echo_round() {
    local sc=$(( $2 == 0 ))
    log "$tag $1: rate, CPU$( [ $sc = 1 ] && echo ", syscalls") ($n round trips), round $(($2 + 1))/$RUNS"
    run_measured "$tag" "$1" "$c" "$s" "$n" 1 "$sc"
}
# echo_callgrind NAME: the callgrind run of run_echo's scenario
echo_callgrind() {
    log "$tag $1: callgrind ($ncg round trips)"
    run_callgrind "$tag" "$1" "$c" "$s" "$ncg"
}

# run_echo: per scenario, RUNS rounds of the rate and CPU runs, each round starting every
# server once in an order rotated per round, then one callgrind run each (scenario_rounds)
run_echo() {
    local scen c s n ncg tag
    for scen in $SCENARIOS; do
        IFS=: read -r c s n ncg <<<"$scen"
        tag="c$c/s$s"
        # shellcheck disable=SC2086  # SERVERS is a list of words
        scenario_rounds "$RUNS" "$tag" put "$tag" "" DEAD_SERVERS echo_round echo_callgrind $SERVERS
    done
}

# ---------------------------------------------------------------------------------------------
# 7. Micro-benchmarks
# ---------------------------------------------------------------------------------------------
mput() { printf '%s\n' "$*" >>"$MICRO_TSV"; }

# micro_post IMPL: chain/xthread x nosocket/socket; N adapted so one run takes about 2 s
micro_post() {
    local bin="$BUILD/post_$1" kind variant n line ns sc
    [ -x "$bin" ] || return
    for kind in chain xthread; do
        for variant in nosocket socket; do
            n=10000000
            # probe with 200k handlers, then N = min(10M, about 2 s worth)
            line=$(taskset -c 0,1 "$bin" "$kind" 200000 "$variant" 2>/dev/null)
            ns=$(field ns_per "$line")
            [ -n "$ns" ] && n=$(awk -v ns="$ns" -v q="$QUICK" 'BEGIN {
                b = (q == 1 ? 0.3e9 : 2e9); m = int(b / ns / 100000) * 100000;
                if (m > 10000000) m = 10000000; if (m < 200000) m = 200000; print m }')
            sc=""
            if [ $SC_TOOL = perf ]; then
                line=$(taskset -c 0,1 perf stat -x, -o "$WORK/mperf.out" -e raw_syscalls:sys_enter \
                       "$bin" "$kind" "$n" "$variant" 2>/dev/null)
                sc=$(awk -F, -v n="$n" '$3 == "raw_syscalls:sys_enter" {printf "%.3f", $1 / n}' "$WORK/mperf.out")
            else
                line=$(taskset -c 0,1 "$bin" "$kind" "$n" "$variant" 2>/dev/null)
            fi
            [ -n "$line" ] && mput "$line syscalls_per=${sc:-?}"
        done
    done
}

micro_timers() {
    local bin="$BUILD/timers_$1" n=1000000
    [ -x "$bin" ] || return
    [ "$QUICK" = 1 ] && n=200000
    local line
    line=$(taskset -c 0 "$bin" "$n" 2>"$WORK/timers.err")
    [ -n "$line" ] && mput "$line"
}

# micro_n NS: N for a run of handlers costing NS ns each, about 2 s worth (0.3 s with
# BENCH_QUICK=1), a multiple of 100,000 between 200,000 and 10,000,000
micro_n() {
    awk -v ns="$1" -v q="$QUICK" 'BEGIN {
        b = (q == 1 ? 0.3e9 : 2e9); m = int(b / ns / 100000) * 100000;
        if (m > 10000000) m = 10000000; if (m < 200000) m = 200000; print m }'
}

# micro_strand IMPL: a chain on one thread through plain posts and through one strand; then
# a 2-thread context with 2 and 1,000 strands (each a chain). N: probe 200k, then ~2 s worth.
micro_strand() {
    local bin="$BUILD/strand_$1" args line ns n
    [ -x "$bin" ] || return
    for args in "chain post" "chain strand" "mt 2" "mt 1000"; do
        set -- $args
        line=$(taskset -c 0,1 "$bin" "$1" 200000 "$2" 2>/dev/null)
        ns=$(field ns_per "$line")
        [ -n "$ns" ] || continue
        n=$(micro_n "$ns")
        line=$(taskset -c 0,1 "$bin" "$1" "$n" "$2" 2>"$WORK/strand.err")
        [ -n "$line" ] && mput "$line"
    done
}

# micro_pool IMPL: 1 and 2 outside threads posting into a 2-thread pool (window-limited)
micro_pool() {
    local bin="$BUILD/pool_$1" p line ns n
    [ -x "$bin" ] || return
    for p in 1 2; do
        line=$(timeout 60 taskset -c 0,1 "$bin" 200000 "$p" 2>/dev/null)
        ns=$(field ns_per "$line")
        [ -n "$ns" ] || continue
        n=$(micro_n "$ns")
        line=$(timeout 120 taskset -c 0,1 "$bin" "$n" "$p" 2>"$WORK/pool.err")
        [ -n "$line" ] && mput "$line"
    done
}

# micro_deadline IMPL: 1-byte TCP ping-pong on one thread, plain and with per-operation
# deadlines that never expire (bench/CANCEL.md): wall-clock ns per round trip (one run), and
# callgrind instructions per round trip, (Ir(N=5000) - Ir(N=1000)) / 4000
micro_deadline() {
    local bin="$BUILD/deadline_$1" v line ir1 ir2 n=50000
    [ -x "$bin" ] || return
    [ "$QUICK" = 1 ] && n=10000
    for v in plain read both; do
        [ "$1" = uv ] && [ $v = both ] && continue
        line=$(timeout 120 taskset -c 0 "$bin" $v $n 2>"$WORK/deadline.err")
        [ -n "$line" ] || continue
        ir1= ir2=
        if command -v valgrind >/dev/null 2>&1; then
            valgrind --tool=callgrind --callgrind-out-file="$WORK/deadline.cg1" "$bin" $v 1000 >/dev/null 2>&1 &&
                valgrind --tool=callgrind --callgrind-out-file="$WORK/deadline.cg2" "$bin" $v 5000 >/dev/null 2>&1 &&
                ir1=$(awk '/^(summary|totals):/ {print $2; exit}' "$WORK/deadline.cg1") &&
                ir2=$(awk '/^(summary|totals):/ {print $2; exit}' "$WORK/deadline.cg2")
        fi
        mput "$line instr_per=$( [ -n "$ir1" ] && [ -n "$ir2" ] && echo $(( (ir2 - ir1) / 4000 )) || echo '?')"
    done
}

# micro_idle NAME: RSS of the server holding IDLE_N idle connections (each did one round trip)
micro_idle() {
    local name=$1 n=${BENCH_IDLE_CONNS:-10000}
    [ "$QUICK" = 1 ] && n=2000
    server_available "$name" || return
    case $DEAD_SERVERS in *" $name "*) return ;; esac
    next_port
    start_server "$name" "$PORT" || return
    sleep 0.1
    local r0 r1
    r0=$(awk '/^VmRSS/ {print $2}' /proc/"$SRV_PID"/status)
    lg_start -p "$PORT" -c "$n" -s 64 -w "$n" -n 1
    if lg_expect WARM 120; then
        sleep 0.2
        r1=$(awk '/^VmRSS/ {print $2}' /proc/"$SRV_PID"/status)
        lg_go; lg_expect DONE 60 && lg_go && lg_expect RESULT 60
        mput "MICRO bench=idle impl=$name conns=$n rss0_kib=$r0 rss1_kib=$r1 bytes_per_conn=$(( (r1 - r0) * 1024 / n ))"
    fi
    lg_finish
    stop_server
}

run_micro() {
    log "micro: posted handlers"
    micro_post asio; micro_post uv; micro_post cio
    log "micro: timers"
    micro_timers asio; micro_timers uv; micro_timers cio
    log "micro: strands"
    micro_strand asio; micro_strand cio
    log "micro: thread pool"
    micro_pool asio; micro_pool cio
    log "micro: deadlines (cancel_after)"
    micro_deadline asio; micro_deadline uv; micro_deadline cio
    log "micro: idle connections"
    local s
    for s in $SERVERS; do micro_idle "$s"; done
}

# ---------------------------------------------------------------------------------------------
# 7b. UDP echo (issue 10): batched receive and send against per-datagram loops and libuv
# ---------------------------------------------------------------------------------------------
# Every peer of UDP_SERVERS against every scenario (CLIENTS:WINDOW:SIZE:N[:N_CALLGRIND]):
# rate (time mode), CPU time and syscalls (count mode, N datagrams), instructions and
# allocations (callgrind, N_CALLGRIND). Rows go to $UDP_TSV; bench/UDP.md is written from it.
UDP_SERVERS=${BENCH_UDP_SERVERS:-"cio-batch-epoll cio-batch-uring cio-per-epoll cio-per-uring uv asio epoll mmsg"}
UDP_SCENARIOS=${BENCH_UDP_SCENARIOS:-"1:1:64:5000:1000 8:8:64:30000:10000 4:16:1024:20000:5000"}
UDP_RATE_SECS=${BENCH_UDP_RATE_SECS:-0.5}
UDP_RUNS=${BENCH_UDP_RUNS:-2}
if [ "$QUICK" = 1 ]; then
    UDP_RATE_SECS=${BENCH_UDP_RATE_SECS:-0.5}
    UDP_RUNS=${BENCH_UDP_RUNS:-1}
    UDP_SCENARIOS=${BENCH_UDP_SCENARIOS:-"1:1:64:3000:1000 8:8:64:20000:5000"}
fi
UDP_TSV="$WORK/udp.tsv"
UDP_MD="$BENCH_DIR/UDP.md"
UDP_DEAD=" "
uput() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$UDP_TSV"; }

# udp_lg_start C W S U PHASES [more udp_loadgen args]: the UDP load generator behind the
# FIFOs, U warm-up datagrams (at least 10 per slot)
udp_lg_start() {
    local c=$1 w=$2 s=$3 u=$4 phases=$5
    shift 5
    (( u < c * w * 10 )) && u=$(( c * w * 10 ))
    LG_EXE="$BUILD/udp_loadgen" lg_start -p "$PORT" -c "$c" -w "$w" -s "$s" -u "$u" -P "$phases" "$@"
}

# udp_record TAG NAME IS_RATE: a UDP phase's datagrams sent and lost, late echoes and
# errors, and a time phase's rate (from LINE)
udp_record() {
    local lost late errs
    lost=$(field lost "$LINE"); late=$(field late "$LINE"); errs=$(field errors "$LINE")
    uput "$1" "$2" sent "$(field sent "$LINE")"
    uput "$1" "$2" lost "$lost"
    [ "${late:-0}" = 0 ] || uput "$1" "$2" late "$late"
    [ "${errs:-0}" = 0 ] || uput "$1" "$2" errors "$errs"
    [ "$3" = 1 ] && uput "$1" "$2" rate "$(field rate "$LINE")"
    return 0
}

# udp_measured TAG NAME C W S N [RUNS [SC]]: one server start: RUNS (default $UDP_RUNS) rate
# runs, RUNS CPU runs and, with SC 1 (the default), one syscall run
udp_measured() {
    local tag=$1 name=$2 c=$3 w=$4 s=$5 n=$6 runs=${7:-$UDP_RUNS} sc=${8:-1}
    start_or_note uput "$tag" "$name" "udp-$name" || { UDP_DEAD+=" $name "; return 1; }
    udp_lg_start "$c" "$w" "$s" 5000 "$(measured_phase_list "$runs" "$UDP_RATE_SECS" "$n" "$sc")"
    measured_phases "$runs" dgrams uput udp_record "$tag" "$name" "$sc"
    local ok=$MP_OK
    lg_finish
    stop_server
    if [ $ok = 0 ]; then
        uput "$tag" "$name" note "load generator failed: $(tail -c 200 "$WORK/lg.err" | tr '\n\t' '  ')"
        grep -v '^$' "$WORK/server.err" | head -2 | while read -r l; do uput "$tag" "$name" stderr "$l"; done
    fi
    return 0
}

# udp_profile NAME TAG CALLGRIND_FILE N: the top functions of one callgrind dump by their own
# instructions, per datagram ("tag<TAB>name<TAB>Ir/dgram<TAB>function [object]" lines). Read
# from the dump itself (callgrind_annotate 3.19 folds this uncompressed dump into main): a
# cost line after fn= is the function's own; the line after calls= is a callee's inclusive
# cost, skipped.
udp_profile() {
    awk -v n="$4" -v tag="$2" -v name="$1" '
        /^ob=/ { ob = substr($0, 4); sub(/.*\//, "", ob) }
        /^fn=/ { f = substr($0, 4) " [" ob "]"; next }
        /^calls=/ { getline; next }
        /^[0-9+-]/ && f != "" { split($0, a, " "); self[f] += a[2] }
        END { for (k in self) printf "%d\t%s\n", self[k], k }' "$3" |
        sort -rn | head -12 |
        awk -F'\t' -v n="$4" -v tag="$2" -v name="$1" \
            '{ printf "%s\t%s\t%.1f\t%s\n", tag, name, $1 / n, $2 }' >>"$WORK/udp_profile.tsv"
}

# udp_callgrind TAG NAME C W S N: instructions and allocations per datagram, as run_callgrind
# does for TCP: phases of N/5 and N datagrams between callgrind dumps, (window 2 - window 1)
# / (N2 - N1). One datagram in flight: a 500 us think time after each echo (the server is
# back in its wait, as natively); the loss timeout is 2 s (valgrind is slow).
udp_callgrind() {
    local tag=$1 name=$2 c=$3 w=$4 s=$5 n=$6
    local n1=$(( n / 5 )) n2=$n
    rm -f "$WORK"/cg.out*
    start_or_note uput "$tag" "$name" "udp-$name" callgrind || return 1
    local think=()
    [ "$c" = 1 ] && [ "$w" = 1 ] && think=(-t "${BENCH_CG_THINK_US:-500}")
    udp_lg_start "$c" "$w" "$s" 1000 "n$n1,n$n2" -T 2000 "${think[@]}"
    callgrind_windows dgrams udp_cg_check "$tag" "$name"
    callgrind_figures uput "$tag" "$name" || return 0
    case $name in cio-batch-*|cio-per-*|uv|mmsg) udp_profile "$name" "$tag" "$WORK/cg.out.3" "$CG_N2" ;; esac
    cp "$WORK/cg.out.3" "$WORK/udp-cg-$name-${tag//\//_}.out" 2>/dev/null
}

# udp_cg_check TAG NAME: a callgrind phase's losses, from LINE
udp_cg_check() {
    [ "$(field lost "$LINE")" = 0 ] || uput "$1" "$2" cg_lost "$(field lost "$LINE")"
}

# udp_round NAME ROUND: one peer start of a round of run_udp (its scenario: tag, c, w, s and
# n of run_udp): one rate run and one CPU run, and in the first round the syscall run
udp_round() {
    local sc=$(( $2 == 0 ))
    log "udp $tag $1: rate, CPU$( [ $sc = 1 ] && echo ", syscalls") ($n datagrams), round $(($2 + 1))/$UDP_RUNS"
    udp_measured "$tag" "$1" "$c" "$w" "$s" "$n" 1 "$sc"
}
# udp_round_callgrind NAME: the callgrind run of run_udp's scenario
udp_round_callgrind() {
    log "udp $tag $1: callgrind ($ncg datagrams)"
    udp_callgrind "$tag" "$1" "$c" "$w" "$s" "$ncg"
}

# run_udp: per scenario, UDP_RUNS rounds of the rate and CPU runs in an order rotated per
# round, as run_echo does, then one callgrind run per peer (scenario_rounds)
run_udp() {
    local scen c w s n ncg tag
    : >"$UDP_TSV"
    : >"$WORK/udp_profile.tsv"
    for scen in $UDP_SCENARIOS; do
        IFS=: read -r c w s n ncg <<<"$scen"
        [ -n "$ncg" ] || ncg=$(( n / 5 ))
        tag="c$c/w$w/s$s"
        # shellcheck disable=SC2086  # UDP_SERVERS is a list of words
        scenario_rounds "$UDP_RUNS" "udp $tag" uput "$tag" udp- UDP_DEAD udp_round udp_round_callgrind $UDP_SERVERS
    done
}

# The command that made this run: the BENCH_ knobs set, then the script.
bench_command() {
    local v out=""
    for v in $(compgen -e | grep -E '^(BENCH_[A-Z_]*|CIO_ECHO)$' | sort); do
        out+="$v='${!v}' "
    done
    echo "${out}bench/run.sh"
}

make_udp_report() {
    local ref=uv
    grep -q "	uv	\(ir\|rate\)	" "$UDP_TSV" 2>/dev/null || ref=epoll
    {
        echo "# cio UDP echo benchmark (issue 10: batched receive and send)"
        echo
        echo "Written by \`bench/run.sh\` (its UDP section; \`make bench\`); what each column means"
        echo "and how it is measured: [README.md](README.md), section \"UDP echo\". Ratios are to **$ref**"
        echo "(\`1.00x\`): below 1 is cheaper (or, for the rate, slower)."
        echo
        echo "- command: \`$UDP_COMMAND\`"
        machine_info | grep -v '^- cio echo server\|^- syscall counter\|BENCH_QUICK'
        echo "- cio UDP peer: $BUILD/udp_cio ($( [ -x "$BUILD/udp_cio" ] && echo "against $REL/libcio.so" || echo absent))"
        echo "- syscall counter: $SC_TOOL; $UDP_RUNS rounds, each one ${UDP_RATE_SECS} s rate run and one CPU run per peer (a fresh peer each), the order rotated per round; server on CPU 0, udp_loadgen on CPU 1"
        [ "$QUICK" = 1 ] && echo "- **BENCH_QUICK=1: a short smoke run, not the reference figures**"
        echo
        awk -F'\t' -v ref="$ref" -v servers="$UDP_SERVERS" -f "$BENCH_DIR/report_lib.awk" -f "$BENCH_DIR/report_udp.awk" \
            "$UDP_TSV" "$WORK/udp_profile.tsv"
    } >"$WORK/UDP.md.tmp" # (in the work directory: the commit line sees the tree as it is)
    mv "$WORK/UDP.md.tmp" "$UDP_MD"
}

# ---------------------------------------------------------------------------------------------
# 8. Report: bench/RESULTS.md and bench/echo.png
# ---------------------------------------------------------------------------------------------
machine_info() {
    local commit dirty
    commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)
    dirty=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo " (with uncommitted changes)")
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- commit: \`$commit\`$dirty"
    echo "- machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
    echo "- kernel: $(uname -sr); load average at start: $LOADAVG"
    echo "- peers: libuv $(dpkg-query -W -f='${Version}' libuv1-dev 2>/dev/null), Asio $(dpkg-query -W -f='${Version}' libasio-dev 2>/dev/null), liburing $(dpkg-query -W -f='${Version}' liburing-dev 2>/dev/null), $($CC --version | head -1), valgrind $(valgrind --version 2>/dev/null | sed 's/valgrind-//')"
    echo "- cio echo server: ${CIO_ECHO:-absent}"
    echo "- syscall counter: $SC_TOOL; $RUNS rounds, each one ${RATE_SECS} s rate run and one CPU run per server (a fresh server each), the order rotated per round; server on CPU 0, loadgen on CPU 1"
    [ "$QUICK" = 1 ] && echo "- **BENCH_QUICK=1: a short smoke run, not the reference figures**"
    return 0
}

make_report() {
    local ref=epoll s
    for s in cio-epoll cio cio-uring; do
        if grep -q "	$s	ir	" "$TSV" 2>/dev/null || grep -q "	$s	rate	" "$TSV" 2>/dev/null; then ref=$s; break; fi
    done
    {
        echo "# cio benchmark results"
        echo
        echo "Written by \`bench/run.sh\` (\`make bench\`); what each column means and how it is"
        echo "measured: [bench/README.md](README.md). Ratios are to **$ref** (\`1.00x\`);"
        echo "below 1 is cheaper (or, for the rate, slower). The UDP echo benchmark (batched"
        echo "receive and send against per-datagram loops and libuv's recvmmsg) writes its own"
        echo "file: [UDP.md](UDP.md)."
        echo
        machine_info
        echo
        echo "## Echo server, per round trip"
        echo
        echo "Deterministic figures first (instructions and syscalls: exact for one connection; with"
        echo "many, they depend on how events batch), then CPU time, then wall-clock rate and latency,"
        echo "which swing 20-50% between runs on this machine."
        echo
        awk -F'\t' -v ref="$ref" -v servers="$SERVERS" -f "$BENCH_DIR/report_lib.awk" -f "$BENCH_DIR/report.awk" "$TSV"
        [ "${BENCH_THREADS:-0}" = 1 ] && [ -s "$WORK/threads.md" ] && { cat "$WORK/threads.md"; echo; }
        if [ ${#NOTES[@]} -gt 0 ]; then
            echo "### Notes"
            echo
            for s in "${NOTES[@]}"; do echo "- $s"; done
            echo
        fi
        if [ -s "$MICRO_TSV" ]; then
            awk -f "$BENCH_DIR/report_micro.awk" "$MICRO_TSV"
        fi
        [ -f "$PNG" ] && { echo; echo "![echo chart](echo.png)"; }
    } >"$RESULTS.tmp"
    mv "$RESULTS.tmp" "$RESULTS"
}

# chart_ymax FILE: 1.12 x the largest figure of a chart data file (room above the bars)
chart_ymax() {
    awk 'NR > 1 { for (i = 2; i <= NF; i++) if ($i != "?" && $i + 0 > m) m = $i + 0 }
         END { print (m > 0 ? m * 1.12 : 1) }' "$1"
}

make_chart() {
    command -v gnuplot >/dev/null 2>&1 || { note "gnuplot missing: no chart"; return; }
    # only the servers that produced figures
    local present="" s
    for s in $SERVERS; do
        awk -F'\t' -v s="$s" '$2 == s && ($3 == "rate" || $3 == "ir") {f = 1} END {exit !f}' "$TSV" && present+="$s "
    done
    [ -n "$present" ] || return
    # one data file per metric: rows = scenarios, columns = servers (median values)
    local m
    for m in ir cpu sc_total rate; do
        awk -F'\t' -v metric="$m" -v servers="$present" '
            function median(list,   a, n, i, j, t) {
                n = split(list, a, " ")
                for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
                return n ? (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) : "?"
            }
            $3 == metric { v[$1 SUBSEP $2] = v[$1 SUBSEP $2] " " $4; if (!($1 in seen)) { seen[$1] = 1; order[++ns] = $1 } }
            $3 == "rate" || $3 == "ir" { if (!($1 in seen)) { seen[$1] = 1; order[++ns] = $1 } }
            END {
                n = split(servers, sv, " ")
                printf "scenario"; for (i = 1; i <= n; i++) printf " %s", sv[i]; print ""
                for (k = 1; k <= ns; k++) {
                    printf "%s", order[k]
                    for (i = 1; i <= n; i++) {
                        x = v[order[k] SUBSEP sv[i]]
                        if (x == "") printf " ?"; else { y = median(x); if (metric == "rate") y /= 1000; printf " %.4g", y }
                    }
                    print ""
                }
            }' "$TSV" >"$WORK/chart_$m.dat"
    done
    local ncol nrow ymax_ir ymax_cpu ymax_sc ymax_rate
    ncol=$(head -1 "$WORK/chart_ir.dat" | wc -w)
    nrow=$(( $(wc -l <"$WORK/chart_ir.dat") - 1 ))
    ymax_ir=$(chart_ymax "$WORK/chart_ir.dat"); ymax_cpu=$(chart_ymax "$WORK/chart_cpu.dat")
    ymax_sc=$(chart_ymax "$WORK/chart_sc_total.dat"); ymax_rate=$(chart_ymax "$WORK/chart_rate.dat")
    gnuplot <<EOF 2>"$WORK/gnuplot.err" || note "gnuplot failed: $(head -c 200 "$WORK/gnuplot.err")"
set terminal pngcairo size 1400,1000 font ",10" noenhanced
set output "$PNG"
set datafile missing "?"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xrange [-0.5:$nrow - 0.5]
set key outside bottom center horizontal autotitle columnheader
set grid ytics
set multiplot layout 2,2 title "cio echo benchmark — per round trip (lower is better, except rate)  ($(date -u +%Y-%m-%d), $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null))"
set title "user-space instructions / round trip (callgrind)"
set yrange [0:$ymax_ir]
plot for [i=2:$ncol] "$WORK/chart_ir.dat" using i:xtic(1)
set title "server CPU µs / round trip (user+sys)"
set yrange [0:$ymax_cpu]
plot for [i=2:$ncol] "$WORK/chart_cpu.dat" using i:xtic(1)
set title "server syscalls / round trip"
set yrange [0:$ymax_sc]
plot for [i=2:$ncol] "$WORK/chart_sc_total.dat" using i:xtic(1)
set title "rate, thousand round trips / s (median; noisy)"
set yrange [0:$ymax_rate]
plot for [i=2:$ncol] "$WORK/chart_rate.dat" using i:xtic(1)
unset multiplot
EOF
}

# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------
cleanup() {
    [ -n "$SC_PID" ] && kill -INT "$SC_PID" 2>/dev/null
    [ -n "$LG_PID" ] && kill "$LG_PID" 2>/dev/null
    [ -n "$SRV_PID" ] && kill -KILL "$SRV_PID" 2>/dev/null
    return 0
}
# 1000+ connections (10,000 for the idle micro-benchmark): raise the descriptor limit.
raise_fd_limit() {
    ulimit -Hn 1048576 2>/dev/null || true
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true
    [ "$(ulimit -n)" -ge 12000 ] || note "descriptor limit is $(ulimit -n): the 10,000-connection test may fail"
}

# Sourced (bench/compare.sh does): the functions above only, nothing run.
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
install_deps
raise_fd_limit

mkdir -p "$WORK"
log "building peers, load generator and micro-benchmarks into build/bench"
build_all
build_cio
if [ -z "$CIO_ECHO" ]; then
    note "cio's echo server (build/release/examples/echo_server) does not exist yet: cio rows skipped, ratios are to the epoll loop"
fi
detect_sc_tool
: >"$TSV"
: >"$MICRO_TSV"

[ "${BENCH_ECHO:-1}" = 1 ] && run_echo
[ "${BENCH_MICRO:-1}" = 1 ] && run_micro
if [ "${BENCH_UDP:-1}" = 1 ]; then
    UDP_COMMAND=$(bench_command)
    run_udp
    make_udp_report
    log "udp: bench/UDP.md written"
fi
# BENCH_THREADS=1: the multi-threaded servers, cio against Asio (bench/threads.sh, its defaults:
# about 3 more minutes); its table goes into RESULTS.md after the echo tables.
if [ "${BENCH_THREADS:-0}" = 1 ] && [ -n "$CIO_ECHO" ]; then
    log "threads: bench/threads.sh (cio and Asio with --threads 2 and --contexts 2)"
    rm -rf "$WORK/threads"
    THR_DIR="$WORK/threads" THR_OUT="$WORK/threads.md" CIO_ECHO=$CIO_ECHO BENCH_NO_INSTALL=1 \
        "$BENCH_DIR/threads.sh" >/dev/null || note "bench/threads.sh failed"
fi
[ -n "$RING_FLAGS" ] && note "$RING_FLAGS"
if [ "${BENCH_ECHO:-1}" = 1 ] || [ "${BENCH_MICRO:-1}" = 1 ]; then
    make_chart
    make_report
    cat "$RESULTS"
    log "done in $(( $(date +%s) - T_START )) s: bench/RESULTS.md, bench/echo.png"
else
    [ "${BENCH_UDP:-1}" = 1 ] && cat "$UDP_MD"
    log "done in $(( $(date +%s) - T_START )) s (echo and micro skipped: RESULTS.md left as it was)"
fi
