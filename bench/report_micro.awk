# report_micro.awk - the micro-benchmark tables of bench/RESULTS.md, from the MICRO lines
# the micro programs print (one "MICRO key=value ..." line per measurement).
# Works with mawk.

function v(key,    i, kv) {
    for (i = 2; i <= NF; i++) {
        split($i, kv, "=")
        if (kv[1] == key) return substr($i, length(key) + 2)
    }
    return ""
}
function na(x) { return (x == "" || x == "-1" || x == "-1.0" || x == "?") ? "n/a" : x }

# exrow BENCH VARIANT LABEL TARGET: a row of cio and Asio ns/handler and their ratio
# (TARGET: the ratio cio/Asio must not exceed, or "" for none)
function exrow(b, var, label, target,    c, a, r, t) {
    if (!((b, "cio", var) in ex) && !((b, "asio", var) in ex)) return
    c = ((b, "cio", var) in ex) ? ex[b, "cio", var] : ""
    a = ((b, "asio", var) in ex) ? ex[b, "asio", var] : ""
    r = (c != "" && a != "" && a > 0) ? sprintf("%.2f", c / a) : "n/a"
    t = ""
    if (target != "")
        t = sprintf("cio/Asio ≤ %s%s", target, r == "n/a" ? "" : (r + 0 <= target ? " (met)" : " (missed)"))
    printf "| %s | %s | %s | %s | %s |\n", label, na(c), na(a), r, t
}

$1 == "MICRO" {
    b = v("bench")
    if (b == "post_chain" || b == "post_xthread")
        post[++np] = sprintf("| %s | %s | %s | %s | %s | %s |", \
            (b == "post_chain" ? "(a) chain, one thread" : "(b) from another thread"), \
            v("impl"), v("variant") == "socket" ? "open TCP socket" : "no socket", \
            v("n"), v("ns_per"), na(v("syscalls_per")))
    else if (b == "timers")
        tim[++nt] = sprintf("| %s | %s | %s | %s | %s | %s | %s |", v("impl"), v("n"), \
            v("start_ns"), v("cancel_ns"), na(v("aborted_ns")), v("expire_ns"), v("bytes_per_timer"))
    else if (b == "strand_chain" || b == "strand_mt" || b == "pool_post") {
        ex[b, v("impl"), v("variant")] = v("ns_per")
        exn[b, v("impl"), v("variant")] = v("n")
        nex++
    }
    else if (b == "deadline") {
        dl_ns[v("impl"), v("variant")] = v("ns_per")
        dl_ir[v("impl"), v("variant")] = v("instr_per")
        ndl++
    }
    else if (b == "idle")
        idle[++ni] = sprintf("| %s | %s | %.1f | %.1f | %s |", v("impl"), v("conns"), \
            v("rss0_kib") / 1024, v("rss1_kib") / 1024, v("bytes_per_conn"))
}

END {
    print "## Micro-benchmarks"
    print ""
    if (np) {
        print "### Posted handlers"
        print ""
        print "(a) each handler posts the next; (b) a second thread posts, the context thread runs"
        print "them (at most 65,536 queued). libuv has no post: its column is a mutex-protected"
        print "intrusive FIFO drained by one `uv_async_t` callback per batch (see bench/README.md)."
        print "N is 10,000,000, or fewer where that would take over ~2 s (the figure is per handler)."
        print ""
        print "| test | impl | context has | N | ns/handler | syscalls/handler |"
        print "|---|---|---|--:|--:|--:|"
        for (i = 1; i <= np; i++) print post[i]
        print ""
    }
    if (nt) {
        print "### Timers"
        print ""
        print "N timers started (random deadlines over 200 ms), every second one cancelled, the"
        print "rest expired. bytes/timer: RSS growth over N (object + pending wait + queue entry)."
        print ""
        print "| impl | N | ns/start | ns/cancel | ns/aborted handler | ns/expiry | bytes/timer |"
        print "|---|--:|--:|--:|--:|--:|--:|"
        for (i = 1; i <= nt; i++) print tim[i]
        print ""
    }
    if (nex) {
        print "### Strands and the thread pool"
        print ""
        print "Strand (a): a chain of N handlers on one thread (concurrency_hint 1, io_context(1)),"
        print "each posting the next, plainly and through one strand. (b): a context run by 2"
        print "threads with S strands, each a chain (N handlers in all; wall-clock ns over N)."
        print "Thread pool: 1 or 2 outside threads post N handlers into a 2-thread pool, at most"
        print "65,536 queued. cio/Asio below 1 means cio is faster."
        print ""
        print "| test | cio ns/handler | Asio ns/handler | cio/Asio | target |"
        print "|---|--:|--:|--:|---|"
        exrow("strand_chain", "post", "(a) chain, plain post", "")
        exrow("strand_chain", "strand", "(a) chain, through a strand", "")
        if (("strand_chain", "cio", "post") in ex && ("strand_chain", "cio", "strand") in ex) {
            rc = ex["strand_chain", "cio", "strand"] / ex["strand_chain", "cio", "post"]
            ra = (("strand_chain", "asio", "post") in ex && ("strand_chain", "asio", "strand") in ex) ? \
                sprintf("%.2f", ex["strand_chain", "asio", "strand"] / ex["strand_chain", "asio", "post"]) : "n/a"
            printf "| (a) strand / plain post | %.2f | %s | | cio ≤ 1.5 (%s) |\n", rc, ra, \
                rc <= 1.5 ? "met" : "missed"
        }
        exrow("strand_mt", "strands2", "(b) 2 threads, 2 strands", 0.5)
        exrow("strand_mt", "strands1000", "(b) 2 threads, 1,000 strands", 0.5)
        exrow("pool_post", "producers1", "pool: 1 thread posting", 0.5)
        exrow("pool_post", "producers2", "pool: 2 threads posting", 0.5)
        print ""
    }
    if (ndl) {
        print "### Deadlines that do not expire (cancel_after)"
        print ""
        print "A 1-byte TCP loopback ping-pong on one thread (concurrency_hint 1, io_context(1), one"
        print "uv loop), N round trips: plain; every read with a 5 s deadline; reads and writes."
        print "cio: cio_cancel_after; Asio 1.22: a steady_timer and a cancellation_signal per"
        print "direction; libuv: a uv_timer restarted in each read callback. instr/rt: callgrind,"
        print "(Ir(N=5000) - Ir(N=1000)) / 4000 (the main figure); ns/rt: one wall-clock run."
        print "See bench/CANCEL.md."
        print ""
        print "| variant | cio instr/rt | Asio instr/rt | uv instr/rt | cio/Asio instr | cio ns/rt | Asio ns/rt | uv ns/rt |"
        print "|---|--:|--:|--:|--:|--:|--:|--:|"
        split("plain read both", dv, " ")
        split("plain|read deadline|read + write deadlines", dl, "|")
        for (i = 1; i <= 3; i++) {
            c = ((("cio", dv[i]) in dl_ir)) ? dl_ir["cio", dv[i]] : ""
            a = ((("asio", dv[i]) in dl_ir)) ? dl_ir["asio", dv[i]] : ""
            u = ((("uv", dv[i]) in dl_ir)) ? dl_ir["uv", dv[i]] : ""
            r = (c != "" && c != "?" && a != "" && a != "?" && a > 0) ? sprintf("%.2f", c / a) : "n/a"
            printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", dl[i], na(c), na(a), na(u), r, \
                na(dl_ns["cio", dv[i]]), na(dl_ns["asio", dv[i]]), na(dl_ns["uv", dv[i]])
        }
        for (i = 2; i <= 3; i++) {
            line = sprintf("| %s / plain (instr) |", dl[i])
            split("cio asio uv", di, " ")
            for (j = 1; j <= 3; j++) {
                p = dl_ir[di[j], "plain"]; d = dl_ir[di[j], dv[i]]
                line = line sprintf(" %s |", (p != "" && p != "?" && d != "" && d != "?" && p > 0) ? sprintf("%.2f", d / p) : "n/a")
            }
            print line " | | | |"
        }
        print ""
    }
    if (ni) {
        print "### Memory per idle TCP connection"
        print ""
        print "Server RSS before any connection, and while holding N connections that each did"
        print "one 64-byte round trip and then sit idle (a read pending). User-space memory only:"
        print "kernel socket buffers are not in RSS. Every peer keeps a 16 KiB buffer per connection."
        print ""
        print "| server | connections | RSS before MiB | RSS with them MiB | bytes/connection |"
        print "|---|--:|--:|--:|--:|"
        for (i = 1; i <= ni; i++) print idle[i]
        print ""
    }
}
