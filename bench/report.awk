# report.awk - turns build/bench/work/results.tsv into the echo tables of bench/RESULTS.md.
#
#   awk -F'\t' -v ref=SERVER -v servers="a b c" -f report_lib.awk -f report.awk results.tsv
#
# Input lines: scenario <TAB> server <TAB> key <TAB> value. Keys: rate, p50, p99, cpu (one
# per run), ticks ("utime stime" per CPU run), sc_total and sc_<syscall> (per round trip), ir
# (instructions per round trip), ir_base, mallocs (allocation calls per round trip), errors,
# note, stderr, absent.
# Works with mawk (no gawk extensions).

function describe(scen,    c, s, parts) {
    split(scen, parts, "/")
    c = substr(parts[1], 2); s = substr(parts[2], 2)
    return c " connection" (c == 1 ? "" : "s") ", " s "-byte messages"
}

{
    k = $1 SUBSEP $2 SUBSEP $3
    if ($3 == "note" || $3 == "stderr" || $3 == "errors")
        notes[$1] = notes[$1] "- " $2 ": " ($3 == "errors" ? $4 " load generator errors (byte mismatch, close or timeout)" : ($3 == "stderr" ? "stderr: `" $4 "`" : $4)) "\n"
    else if ($3 == "absent")
        absent[$1] = absent[$1] (absent[$1] == "" ? "" : ", ") $2
    else
        val[k] = (k in val) ? val[k] " " $4 : $4
    if ($3 ~ /^sc_/ && $3 != "sc_total")
        scnames[$1 SUBSEP $2] = scnames[$1 SUBSEP $2] " " substr($3, 4)
    if (!($1 in seen)) { seen[$1] = 1; order[++nscen] = $1 }
}

END {
    nsrv = split(servers, sv, " ")
    for (q = 1; q <= nscen; q++) {
        scen = order[q]
        print "### " scen " — " describe(scen)
        print ""
        print "| server | instr/rt | ×" ref " | syscalls/rt | ×" ref " | CPU µs/rt | spread | ×" ref " | sys % | rate rt/s | spread | ×" ref " | p50 µs | p99 µs | syscalls per round trip |"
        print "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|"
        ref_figures(scen)
        for (i = 1; i <= nsrv; i++) {
            s = sv[i]
            if (!has_figures(scen, s)) continue
            row_figures(scen, s)
            sys = sys_share(scen, s) # user/sys split from the utime/stime ticks of the CPU runs
            name = (s == ref) ? "**" s "**" : s
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", \
                name, fmt(ir, "int"), ratio(ir, rir), fmt(sc, 2), ratio(sc, rsc), \
                fmt(cpu, 2), spread(get(scen, s, "cpu")), ratio(cpu, rcpu), sys, \
                fmt(rate, "int"), spread(get(scen, s, "rate")), ratio(rate, rrate), \
                fmt(median(get(scen, s, "p50")), 0), fmt(median(get(scen, s, "p99")), 0), mix(scen, s)
        }
        print ""
        if (absent[scen] != "") print "Not run (binary absent): " absent[scen] ".\n"
        if (notes[scen] != "") print notes[scen]
    }
    # Allocation calls per round trip, from the callgrind windows: one row per server.
    allocations("round trip", "instr/rt", "server")
}
