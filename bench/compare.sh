#!/usr/bin/env bash
# bench/compare.sh - cio's echo_server at two revisions, measured side by side in one run.
#
#   bench/compare.sh BASE_REV [HEAD_REV]      (HEAD_REV defaults to HEAD; "." = the working
#                                              tree as it is, uncommitted changes included)
#
# Each revision is checked out with `git worktree add --detach` under a fresh /tmp directory
# and built in Release exactly as bench/run.sh builds cio (its cio_release_build). Both
# echo_servers then go through bench/run.sh's own measurement functions (sourced: loadgen and
# its sync points, run_callgrind's two-window instructions per round trip, perf syscall
# tracepoints, schedstat CPU time), for CIO_BACKEND=epoll and io_uring, per scenario:
#   - count-mode runs (rate, CPU, syscalls) interleaved: base, head, head, base, base, head...
#     (CMP_RUNS pairs, one fresh server each), so drift on the shared machine hits both alike;
#   - one callgrind run each (instructions are deterministic; with many connections they move
#     by 1-3 % with batching under valgrind, see bench/README.md).
# Prints a markdown table (and writes it to $CMP_OUT), then, per row, the functions whose
# self instructions per round trip changed most (each function's own Ir in both profiles,
# read from the dumps as callgrind_annotate would, see cg_self; window 2 minus window 1, over
# the round-trip difference: the same arithmetic as instr/rt).
#
# Knobs (environment): CMP_SCENARIOS ("CONNS:SIZE:N_COUNT:N_CALLGRIND ...", default c1, c50,
# c1000 at 64 B as in bench/run.sh), CMP_BACKENDS ("epoll io_uring"), CMP_RUNS (3),
# BENCH_RATE_SECS (1.5), CMP_PORT (first port, 27000), CMP_KEEP=1 (keep the worktrees and
# builds), CMP_OUT (table file; default in the run's /tmp directory), CMP_TOP (8 functions),
# BENCH_SYSCALLS, BENCH_CG_THINK_US, BENCH_NO_INSTALL as in bench/run.sh.
set -uo pipefail

[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: bench/compare.sh BASE_REV [HEAD_REV]" >&2; exit 2; }
# bench/run.sh, sourced, defines its functions and runs nothing.
# shellcheck source=bench/run.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/run.sh"

TMP=$(mktemp -d /tmp/cio-compare.XXXXXX)
BUILD="$TMP/bench"          # loadgen (run.sh's lg_start runs $BUILD/loadgen)
WORK="$TMP/work"
TSV="$WORK/results.tsv"
PORT=${CMP_PORT:-27000}
RUNS=1                      # run_measured: one rate, one CPU and one syscall phase a start
PAIRS=${CMP_RUNS:-3}
BACKENDS=${CMP_BACKENDS:-"epoll io_uring"}
CMP_SCENARIOS=${CMP_SCENARIOS:-"1:64:10000:2000 50:64:50000:20000 1000:64:50000:20000"}
CMP_OUT=${CMP_OUT:-"$TMP/compare.md"}
TOP=${CMP_TOP:-8}
mkdir -p "$BUILD" "$WORK"

# rev_label REV -> short commit (or "worktree" for ".")
rev_label() {
    if [ "$1" = . ]; then echo "worktree ($(git -C "$ROOT" rev-parse --short HEAD)+changes)"
    else git -C "$ROOT" rev-parse --short "$1^{commit}"; fi
}
BASE_REV=$1 HEAD_REV=${2:-HEAD}
BASE_LABEL=$(rev_label "$BASE_REV") || { echo "compare: unknown revision $BASE_REV" >&2; exit 2; }
HEAD_LABEL=$(rev_label "$HEAD_REV") || { echo "compare: unknown revision $HEAD_REV" >&2; exit 2; }

WORKTREES=()
compare_cleanup() {
    cleanup
    if [ "${CMP_KEEP:-0}" != 1 ]; then
        local wt
        for wt in "${WORKTREES[@]}"; do git -C "$ROOT" worktree remove --force "$wt" >/dev/null 2>&1; done
        rm -rf "$TMP/base-build" "$TMP/head-build"
    fi
    return 0
}
trap compare_cleanup EXIT
trap 'compare_cleanup; exit 130' INT TERM

# build_rev ROLE REV: worktree $TMP/ROLE (none for "."), build $TMP/ROLE-build; sets ECHO_ROLE
build_rev() {
    local role=$1 rev=$2 src="$TMP/$1"
    if [ "$rev" = . ]; then
        src=$ROOT
    else
        git -C "$ROOT" worktree add --detach "$src" "$rev" >"$WORK/$role-worktree.log" 2>&1 ||
            { log "git worktree add $rev failed: $(tail -1 "$WORK/$role-worktree.log")"; return 1; }
        WORKTREES+=("$src")
    fi
    log "building $role ($(rev_label "$rev")) in $TMP/$role-build"
    cio_release_build "$src" "$TMP/$role-build" "$WORK/$role-build.log" ||
        { log "$role build failed: $WORK/$role-build.log"; return 1; }
    [ -x "$TMP/$role-build/examples/echo_server" ] ||
        { log "$role: no examples/echo_server"; return 1; }
}

# Servers: base-epoll, head-epoll, base-io_uring, head-io_uring (run.sh's cio-* rows, two binaries).
server_argv() {
    local name=$1 port=$2
    printf '%s\n' env "CIO_BACKEND=${name#*-}" "$TMP/${name%%-*}-build/examples/echo_server" "$port"
}

# cg_self FILE -> "function<TAB>self Ir" for every function of one callgrind dump. Read from
# the dump itself (--compress-strings=no): a cost line right after a calls= line is the
# inclusive cost of that call, every other cost line is the function's own. (callgrind_annotate
# 3.19 counts the in-progress calls of the frames on the stack at a dump, "calls=0", as their
# self cost: main, cio_context_run and the loop would show the whole window.)
cg_self() {
    awk '/^fn=/ { f = substr($0, 4); next }
         /^calls=/ { skip = 1; next }
         /^[0-9+*-]/ { if (skip) skip = 0; else s[f] += $2; next }
         END { for (k in s) printf "%s\t%s\n", k, s[k] }' "$1"
}
# cg_per_rt TAG NAME N: per-function self Ir per round trip from the kept dumps of one run
cg_per_rt() {
    local f="$WORK/cg-$1-$2"
    [ -s "$f.w1" ] && [ -s "$f.w2" ] || return
    cg_self "$f.w1" >"$f.w1.fn"; cg_self "$f.w2" >"$f.w2.fn"
    awk -F'\t' -v d=$(( $3 - $3 / 5 )) 'FNR == NR { a[$1] = $2; next } { b[$1] = $2 }
        END { for (k in a) if (!(k in b)) b[k] = 0
              for (k in b) printf "%s\t%.2f\n", k, (b[k] - a[k]) / d }' "$f.w1.fn" "$f.w2.fn" >"$f.fn"
}

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
install_deps
raise_fd_limit
build_loadgen || { log "loadgen did not build"; exit 1; }
build_rev base "$BASE_REV" || exit 1
build_rev head "$HEAD_REV" || exit 1
detect_sc_tool
: >"$TSV"

for scen in $CMP_SCENARIOS; do
    IFS=: read -r c s n ncg <<<"$scen"
    tag="c$c/s$s" ftag="c${c}s$s"
    for b in $BACKENDS; do
        for ((i = 0; i < PAIRS; i++)); do
            if ((i % 2)); then order="head base"; else order="base head"; fi
            for r in $order; do
                case $DEAD_SERVERS in *" $r-$b "*) continue ;; esac
                log "$tag $r-$b: rate, CPU, syscalls ($n round trips), run $((i + 1))/$PAIRS"
                run_measured "$tag" "$r-$b" "$c" "$s" "$n"
            done
        done
        for r in base head; do
            case $DEAD_SERVERS in *" $r-$b "*) continue ;; esac
            log "$tag $r-$b: callgrind ($ncg round trips)"
            run_callgrind "$tag" "$r-$b" "$c" "$s" "$ncg" &&
                cp "$WORK/cg.out.2" "$WORK/cg-$ftag-$r-$b.w1" 2>/dev/null &&
                cp "$WORK/cg.out.3" "$WORK/cg-$ftag-$r-$b.w2" 2>/dev/null &&
                cg_per_rt "$ftag" "$r-$b" "$ncg"
        done
    done
done

report() {
    echo "## cio echo_server: base \`$BASE_LABEL\` vs head \`$HEAD_LABEL\`"
    echo
    echo "bench/compare.sh $BASE_REV $HEAD_REV; $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs, $(uname -r);" \
         "load average at start $LOADAVG; syscalls: $SC_TOOL; $PAIRS interleaved runs per revision" \
         "(median; ± = (max-min)/2), ${RATE_SECS} s rate phases; server on CPU 0, loadgen on CPU 1."
    echo "instr/rt: callgrind, deterministic for 1 connection; CPU and rate: noisy (shared machine)."
    echo
    awk -F'\t' -v backends="$BACKENDS" '
        function med(list,   a, n, i, j, t) {
            n = split(list, a, " ")
            for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
            lo = a[1]; hi = a[n]
            return n ? (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) : ""
        }
        function fmt(x, f) { return x == "" ? "?" : sprintf(f, x) }
        function pm(list, f,   m) { m = med(list); if (m == "") return "?"; return sprintf(f, m) (split(list, q, " ") > 1 ? sprintf(" ±%.0f%%", m > 0 ? (hi - lo) / 2 / m * 100 : 0) : "") }
        function ratio(a, b) { return (a == "" || b == "" || a == 0) ? "?" : sprintf("%.3fx", b / a) }
        { k = $1 SUBSEP $2 SUBSEP $3; v[k] = (k in v) ? v[k] " " $4 : $4
          if (!($1 in seen)) { seen[$1] = 1; order[++ns] = $1 }
          if ($3 ~ /^sc_/ && $3 != "sc_total") { nm = substr($3, 4); if (!(nm in sn)) { sn[nm] = 1; names[++nn] = nm } } }
        function mix(sc, sv,   i, out, x) {
            out = ""
            for (i = 1; i <= nn; i++) { x = med(v[sc SUBSEP sv SUBSEP "sc_" names[i]]); if (x != "" && x + 0 >= 0.005) out = out (out == "" ? "" : " ") sprintf("%s %.2f", names[i], x) }
            return out
        }
        END {
            print "| scenario | backend | instr/rt base | instr/rt head | ratio | syscalls/rt base | syscalls/rt head | CPU µs/rt base | CPU µs/rt head | rate rt/s base | rate rt/s head | allocs/rt b/h |"
            print "| --- | --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |"
            nb = split(backends, B, " ")
            for (i = 1; i <= ns; i++) for (j = 1; j <= nb; j++) {
                sc = order[i]; bb = "base-" B[j]; hh = "head-" B[j]
                ib = med(v[sc SUBSEP bb SUBSEP "ir"]); ih = med(v[sc SUBSEP hh SUBSEP "ir"])
                sb = med(v[sc SUBSEP bb SUBSEP "sc_total"]); sh = med(v[sc SUBSEP hh SUBSEP "sc_total"])
                printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s |\n", sc, B[j],
                    fmt(ib, "%.1f"), fmt(ih, "%.1f"), ratio(ib, ih), fmt(sb, "%.3f"), fmt(sh, "%.3f"),
                    pm(v[sc SUBSEP bb SUBSEP "cpu"], "%.2f"), pm(v[sc SUBSEP hh SUBSEP "cpu"], "%.2f"),
                    pm(v[sc SUBSEP bb SUBSEP "rate"], "%.0f"), pm(v[sc SUBSEP hh SUBSEP "rate"], "%.0f"),
                    fmt(med(v[sc SUBSEP bb SUBSEP "mallocs"]), "%.2f"), fmt(med(v[sc SUBSEP hh SUBSEP "mallocs"]), "%.2f")
                mixes[++nm2] = sprintf("| %s | %s | %s | %s |", sc, B[j], mix(sc, bb), mix(sc, hh))
            }
            print ""
            print "Syscall mix per round trip (median):"
            print ""
            print "| scenario | backend | base | head |"
            print "| --- | --- | --- | --- |"
            for (i = 1; i <= nm2; i++) print mixes[i]
            for (i = 1; i <= ns; i++) for (j = 1; j <= nb; j++) {
                x = v[order[i] SUBSEP "base-" B[j] SUBSEP "note"] v[order[i] SUBSEP "head-" B[j] SUBSEP "note"] v[order[i] SUBSEP "base-" B[j] SUBSEP "errors"] v[order[i] SUBSEP "head-" B[j] SUBSEP "errors"]
                if (x != "") { if (!hdr++) print "\nNotes:\n"; print "- " order[i] " " B[j] ": " x }
            }
        }' "$TSV"
    echo
    echo "Top self-instruction differences per round trip (each function's own Ir in the callgrind dumps, window 2 − window 1 over the round trips; head − base):"
    local scen c s n ncg b ftag
    for scen in $CMP_SCENARIOS; do
        IFS=: read -r c s n ncg <<<"$scen"
        ftag="c${c}s$s"
        for b in $BACKENDS; do
            [ -s "$WORK/cg-$ftag-base-$b.fn" ] && [ -s "$WORK/cg-$ftag-head-$b.fn" ] || continue
            echo
            echo "c$c/s$s $b:"
            echo
            echo "| function | base | head | diff |"
            echo "| --- | --: | --: | --: |"
            awk -F'\t' 'FNR == NR { a[$1] = $2; next } { h[$1] = $2 }
                END { for (k in a) if (!(k in h)) h[k] = 0
                      for (k in h) { d = h[k] - a[k]; if (d * d >= 0.0025) printf "%.2f\t%s\t%.2f\t%.2f\t%+.2f\n", (d < 0 ? -d : d), k, a[k], h[k], d } }' \
                "$WORK/cg-$ftag-base-$b.fn" "$WORK/cg-$ftag-head-$b.fn" |
                sort -t$'\t' -k1,1gr | head -n "$TOP" | awk -F'\t' '{printf "| `%s` | %s | %s | %s |\n", $2, $3, $4, $5}'
        done
    done
}

report >"$CMP_OUT"
cat "$CMP_OUT"
log "done in $(( $(date +%s) - T_START )) s: $CMP_OUT (raw: $TSV, profiles: $WORK/cg-*)"
