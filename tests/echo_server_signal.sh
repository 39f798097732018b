#!/bin/bash
# tests/echo_server_signal.sh ECHO_SERVER - examples/echo_server stops gracefully on a signal,
# through its cio_signal_set: in each shape (one thread, --threads 2, --contexts 2) it is
# started, a connection sends a line and gets it back, then, with that connection still open,
# SIGTERM (SIGINT for the last shape) makes the server exit 0 and say which signal stopped it
# (it exits only once its contexts run out of work: the open connection's read was cancelled
# and the connection closed). Every wait is bounded (20 s): a server that does not stop fails
# the test instead of hanging it.
set -u
server=$1

fail() {
    echo "echo_server_signal: $*" >&2
    exit 1
}

# Waits up to 20 s for process $1 to exit; its status is then in $status.
wait_exit() {
    local pid=$1 i
    for ((i = 0; i < 200; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"
            status=$?
            return 0
        fi
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    return 1
}

# run_shape SIGNAL ARGS...: one server in that shape, one connection, one signal.
run_shape() {
    local sig=$1 shape
    shift
    shape="${*:-one thread}"
    local log
    log=$(mktemp)
    coproc SERVER { exec "$server" 0 "$@" 2>"$log"; }
    # Bash unsets SERVER_PID once it has reaped the coprocess: keep the pid ourselves.
    local pid=$SERVER_PID
    trap 'kill -KILL "$pid" 2>/dev/null; rm -f "$log"' EXIT
    local listening port reply
    read -r -t 20 listening <&"${SERVER[0]}" ||
        fail "$shape: the server did not say where it listens"
    port=${listening##*:}

    exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "$shape: cannot connect to port $port"
    printf 'hello through a signal set\n' >&3
    read -r -t 20 reply <&3 || fail "$shape: no echo"
    [ "$reply" = "hello through a signal set" ] || fail "$shape: echoed '$reply'"

    kill "-$sig" "$pid"
    wait_exit "$pid" || fail "$shape: still running 20 s after SIG$sig"
    [ "$status" -eq 0 ] || fail "$shape: exited $status on SIG$sig: $(cat "$log")"
    grep -q "stopped (SIG$sig) after 1 connections" "$log" || fail "$shape: log: $(cat "$log")"
    if read -r -t 5 reply <&3; then
        fail "$shape: read '$reply' after the stop"
    fi
    exec 3<&-
    trap - EXIT
    rm -f "$log"
    echo "echo_server_signal: $shape: SIG$sig stopped the server, exit 0"
}

run_shape TERM
run_shape TERM --threads 2
run_shape INT --contexts 2
