# report_lib.awk - what report.awk (TCP echo) and report_udp.awk (UDP echo) share: sorting,
# medians and spreads, number formats, ratios, the lookup of one figure, the kernel's share
# of the CPU time, the syscall mix, and the table of allocation calls. Loaded before either (awk -f report_lib.awk -f report.awk ...); both keep
# their figures in val[scenario, server, key], the scenarios in order[1..nscen] and the
# servers in sv[1..nsrv]. Works with mawk (no gawk extensions).

function sort(a, n,    i, j, t) {
    for (i = 2; i <= n; i++) {
        t = a[i]
        for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--)
            a[j + 1] = a[j]
        a[j + 1] = t
    }
}
function median(list,    a, n) {
    n = split(list, a, " ")
    if (n == 0) return ""
    sort(a, n)
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function spread(list,    a, n, m) {   # (max - min) / 2 over the median, in percent
    n = split(list, a, " ")
    if (n < 2) return ""
    sort(a, n)
    m = median(list)
    return m > 0 ? sprintf("±%.0f%%", 50 * (a[n] - a[1]) / m) : ""
}
function commas(s,    r) {
    r = ""
    while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
    return s r
}
function fmt(x, digits) {
    if (x == "") return "–"
    if (digits == "int") return commas(sprintf("%.0f", x))
    return sprintf("%." digits "f", x)
}
function ratio(x, y) {
    if (x == "" || y == "" || y + 0 == 0) return "–"
    return sprintf("%.2fx", x / y)
}
function get(scen, srv, key) { return val[scen SUBSEP srv SUBSEP key] }

# The figures of one row, in globals: the reference server's (rir, rsc, rcpu, rrate: its
# instructions, syscalls, median CPU time and median rate in scen), and server s's (ir, sc,
# cpu, rate); has_figures says whether s has a row at all.
function ref_figures(scen) {
    rir = get(scen, ref, "ir"); rsc = get(scen, ref, "sc_total")
    rcpu = median(get(scen, ref, "cpu")); rrate = median(get(scen, ref, "rate"))
}
function has_figures(scen, s) {
    return get(scen, s, "rate") != "" || get(scen, s, "ir") != "" || get(scen, s, "cpu") != ""
}
function row_figures(scen, s) {
    ir = get(scen, s, "ir"); sc = get(scen, s, "sc_total")
    cpu = median(get(scen, s, "cpu")); rate = median(get(scen, s, "rate"))
}

# The kernel's share (percent) of a server's CPU time, from the utime/stime ticks of its CPU
# runs ("ticks" values).
function sys_share(scen, s,    nt, tk, j, u, y) {
    nt = split(get(scen, s, "ticks"), tk, " "); u = 0; y = 0
    for (j = 1; j + 1 <= nt; j += 2) { u += tk[j]; y += tk[j + 1] }
    return (u + y > 0) ? sprintf("%.0f", 100 * y / (u + y)) : "–"
}

# A server's syscall mix per unit, largest first ("other": total minus the named ones); the
# names seen are in scnames[scen, server], space-separated.
function mix(scen, s,    n, nm, a, b, t, x, listed, out, sc) {
    n = split(scnames[scen SUBSEP s], nm, " "); out = ""; listed = 0
    for (a = 1; a <= n; a++) for (b = a + 1; b <= n; b++)
        if (get(scen, s, "sc_" nm[b]) + 0 > get(scen, s, "sc_" nm[a]) + 0) { t = nm[a]; nm[a] = nm[b]; nm[b] = t }
    for (a = 1; a <= n; a++) {
        x = get(scen, s, "sc_" nm[a]); listed += x
        if (x + 0 >= 0.005) out = out (out == "" ? "" : ", ") nm[a] " " sprintf("%.2f", x)
    }
    sc = get(scen, s, "sc_total")
    if (sc != "" && sc - listed >= 0.005) out = out (out == "" ? "" : ", ") "other " sprintf("%.2f", sc - listed)
    return out
}

# The allocation calls per `unit` (round trip, datagram) of every server in every scenario,
# when any was counted; `figure` names the instructions column whose windows they share.
function allocations(unit, figure, label,    q, i, m, line, rule, shown, any) {
    any = 0
    for (q = 1; q <= nscen; q++) for (i = 1; i <= nsrv; i++) if (get(order[q], sv[i], "mallocs") != "") any = 1
    if (!any) return
    print "### Allocations per " unit
    print ""
    print "Calls to malloc, calloc, realloc and the aligned allocators (C++ `new` calls malloc) per"
    print unit " in steady state, counted by callgrind over the same windows as " figure "."
    print ""
    line = "| " label " |"; rule = "|---|"
    for (q = 1; q <= nscen; q++) { line = line " " order[q] " |"; rule = rule "--:|" }
    print line; print rule
    for (i = 1; i <= nsrv; i++) {
        line = "| " sv[i] " |"; shown = 0
        for (q = 1; q <= nscen; q++) {
            m = get(order[q], sv[i], "mallocs")
            if (m != "") shown = 1
            line = line " " (m == "" ? "–" : sprintf("%.2f", m)) " |"
        }
        if (shown) print line
    }
    print ""
}
