# report_udp.awk - turns build/bench/work/udp.tsv (and udp_profile.tsv) into the tables of
# bench/UDP.md.
#
#   awk -F'\t' -v ref=PEER -v servers="a b c" -f report_lib.awk -f report_udp.awk udp.tsv \
#       udp_profile.tsv
#
# udp.tsv lines: scenario <TAB> peer <TAB> key <TAB> value. Keys: rate (one per run), cpu (per
# CPU run), ticks ("utime stime"), sc_total and sc_<syscall> (per datagram), ir and mallocs
# (per datagram, callgrind), sent, lost, late (per phase), cg_lost, errors, note, stderr,
# absent. udp_profile.tsv lines: scenario <TAB> peer <TAB> Ir per datagram <TAB> function.
# Works with mawk (no gawk extensions).

function total(list,    a, n, i, s) {
    n = split(list, a, " "); s = 0
    for (i = 1; i <= n; i++) s += a[i]
    return s
}
function describe(scen,    p, c, w, s) {
    split(scen, p, "/")
    c = substr(p[1], 2); w = substr(p[2], 2); s = substr(p[3], 2)
    return c " client" (c == 1 ? "" : "s") " x " w " datagram" (w == 1 ? "" : "s") \
        " in flight, " s "-byte datagrams"
}

FILENAME ~ /profile/ {
    k = $1 SUBSEP $2
    if (!(k in nprof)) { porder[++np] = k }
    prof[k, ++nprof[k]] = sprintf("| %s | %s |", fmt($3, 1), $4)
    next
}
{
    k = $1 SUBSEP $2 SUBSEP $3
    if ($3 == "note" || $3 == "stderr" || $3 == "errors" || $3 == "late" || $3 == "cg_lost")
        notes[$1] = notes[$1] "- " $2 ": " \
            ($3 == "errors" ? $4 " load generator errors (a wrong echo, a socket error or a stall)" : \
             $3 == "late" ? $4 " late echoes (of datagrams already counted lost)" : \
             $3 == "cg_lost" ? $4 " datagrams lost under callgrind" : \
             $3 == "stderr" ? "stderr: `" $4 "`" : $4) "\n"
    else if ($3 == "absent")
        absent[$1] = absent[$1] (absent[$1] == "" ? "" : ", ") $2
    else
        val[k] = (k in val) ? val[k] " " $4 : $4
    if ($3 ~ /^sc_/ && $3 != "sc_total")
        scnames[$1 SUBSEP $2] = scnames[$1 SUBSEP $2] " " substr($3, 4)
    if (!($1 in seen)) { seen[$1] = 1; order[++nscen] = $1 }
}

function table(scen,    i, s, sys, lost, sent, name) {
    print "### " scen " — " describe(scen)
    print ""
    print "| peer | instr/dg | ×" ref " | syscalls/dg | ×" ref " | CPU µs/dg | spread | ×" ref " | sys % | rate dg/s | spread | ×" ref " | lost | syscalls per datagram |"
    print "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|"
    ref_figures(scen)
    for (i = 1; i <= nsrv; i++) {
        s = sv[i]
        if (!has_figures(scen, s)) continue
        row_figures(scen, s)
        sys = sys_share(scen, s)
        sent = total(get(scen, s, "sent")); lost = total(get(scen, s, "lost"))
        lost = sent > 0 ? (lost == 0 ? "0" : sprintf("%.2g%%", 100 * lost / sent)) : "–"
        name = (s == ref) ? "**" s "**" : s
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", \
            name, fmt(ir, "int"), ratio(ir, rir), fmt(sc, 2), ratio(sc, rsc), \
            fmt(cpu, 2), spread(get(scen, s, "cpu")), ratio(cpu, rcpu), sys, \
            fmt(rate, "int"), spread(get(scen, s, "rate")), ratio(rate, rrate), lost, mix(scen, s)
    }
    print ""
    if (absent[scen] != "") print "Not run (binary absent): " absent[scen] ".\n"
    if (notes[scen] != "") print notes[scen]
}

function profiles(    q, k, parts, j) {
    if (np == 0) return
    print "### Where the instructions go"
    print ""
    print "Each peer's top functions by their own instructions (callgrind, exclusive cost) over"
    print "the second measured window, divided by its datagrams (the window's constant part, the"
    print "control request, is spread over them: a few instructions per datagram). glibc's memset"
    print "of a few KiB is a `rep stosb`, which callgrind counts as one instruction per byte: its"
    print "share of the time is far smaller than its share here."
    print ""
    for (q = 1; q <= np; q++) {
        k = porder[q]; split(k, parts, SUBSEP)
        print "#### " parts[2] ", " parts[1]
        print ""
        print "| Ir/dg | function |"
        print "|--:|---|"
        for (j = 1; j <= nprof[k]; j++) print prof[k, j]
        print ""
    }
}

END {
    nsrv = split(servers, sv, " ")
    print "## UDP echo, per datagram"
    print ""
    print "Deterministic figures first (instructions and syscalls: exact for one datagram in flight;"
    print "with many, they depend on how many datagrams one wake-up finds), then CPU time, then the"
    print "wall-clock rate (secondary: it swings 20-50% between runs on this machine, and the load"
    print "generator, on one CPU, is the limit for the cheapest peers)."
    print ""
    for (q = 1; q <= nscen; q++) table(order[q])
    allocations("datagram", "instr/dg", "peer")
    profiles()
}
