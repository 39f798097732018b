# report.awk - turns build/bench/work/results.tsv into the echo tables of bench/RESULTS.md.
#
#   awk -F'\t' -v ref=SERVER -v servers="a b c" -f report.awk results.tsv
#
# Input lines: scenario <TAB> server <TAB> key <TAB> value. Keys: rate, p50, p99, cpu (one
# per run), ticks ("utime stime" per CPU run), sc_total and sc_<syscall> (per round trip), ir
# (instructions per round trip), ir_base, mallocs (allocation calls per round trip), errors,
# note, stderr, absent.
# Works with mawk (no gawk extensions).

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
function spread(list,    a, n, m) {   # (max - min) / median, in percent
    n = split(list, a, " ")
    if (n < 2) return ""
    sort(a, n)
    m = median(list)
    return m > 0 ? sprintf("±%.0f%%", 50 * (a[n] - a[1]) / m) : ""
}
function fmt(x, digits) {
    if (x == "") return "–"
    if (digits == "int") return commas(sprintf("%.0f", x))
    return sprintf("%." digits "f", x)
}
function commas(s,    r) {
    r = ""
    while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
    return s r
}
function ratio(x, y) {
    if (x == "" || y == "" || y + 0 == 0) return "–"
    return sprintf("%.2fx", x / y)
}
function get(scen, srv, key) { return val[scen SUBSEP srv SUBSEP key] }
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
        rir = get(scen, ref, "ir"); rsc = get(scen, ref, "sc_total")
        rcpu = median(get(scen, ref, "cpu")); rrate = median(get(scen, ref, "rate"))
        for (i = 1; i <= nsrv; i++) {
            s = sv[i]
            if (get(scen, s, "rate") == "" && get(scen, s, "ir") == "" && get(scen, s, "cpu") == "") continue
            ir = get(scen, s, "ir"); sc = get(scen, s, "sc_total")
            cpu = median(get(scen, s, "cpu")); rate = median(get(scen, s, "rate"))
            # user/sys split from the utime/stime ticks of the CPU runs
            nt = split(get(scen, s, "ticks"), tk, " "); u = 0; y = 0
            for (j = 1; j + 1 <= nt; j += 2) { u += tk[j]; y += tk[j + 1] }
            sys = (u + y > 0) ? sprintf("%.0f", 100 * y / (u + y)) : "–"
            # syscall mix, largest first
            n = split(scnames[scen SUBSEP s], nm, " "); mix = ""; listed = 0
            for (a = 1; a <= n; a++) for (b = a + 1; b <= n; b++)
                if (get(scen, s, "sc_" nm[b]) + 0 > get(scen, s, "sc_" nm[a]) + 0) { t = nm[a]; nm[a] = nm[b]; nm[b] = t }
            for (a = 1; a <= n; a++) {
                x = get(scen, s, "sc_" nm[a]); listed += x
                if (x + 0 >= 0.005) mix = mix (mix == "" ? "" : ", ") nm[a] " " sprintf("%.2f", x)
            }
            if (sc != "" && sc - listed >= 0.005) mix = mix (mix == "" ? "" : ", ") "other " sprintf("%.2f", sc - listed)
            name = (s == ref) ? "**" s "**" : s
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", \
                name, fmt(ir, "int"), ratio(ir, rir), fmt(sc, 2), ratio(sc, rsc), \
                fmt(cpu, 2), spread(get(scen, s, "cpu")), ratio(cpu, rcpu), sys, \
                fmt(rate, "int"), spread(get(scen, s, "rate")), ratio(rate, rrate), \
                fmt(median(get(scen, s, "p50")), 0), fmt(median(get(scen, s, "p99")), 0), mix
        }
        print ""
        if (absent[scen] != "") print "Not run (binary absent): " absent[scen] ".\n"
        if (notes[scen] != "") print notes[scen]
    }
    # Allocation calls per round trip, from the callgrind windows: one row per server.
    any = 0
    for (q = 1; q <= nscen; q++) for (i = 1; i <= nsrv; i++) if (get(order[q], sv[i], "mallocs") != "") any = 1
    if (any) allocations()
}

function allocations(    q, i, m, line, rule, shown) {
    print "### Allocations per round trip"
    print ""
    print "Calls to malloc, calloc, realloc and the aligned allocators (C++ `new` calls malloc) per"
    print "round trip in steady state, counted by callgrind over the same windows as instr/rt."
    print ""
    line = "| server |"; rule = "|---|"
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
