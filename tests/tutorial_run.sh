#!/bin/bash
# tests/tutorial_run.sh TUTORIAL ECHO_SERVER - runs docs/tutorial.md's program as the tutorial
# says it runs: against a fresh examples/echo_server in the throwing form and with --ec (both
# exit 0, having echoed their line twice), then against the same port once it is closed (the
# throwing form's hook exits 1 with "Connection refused").
set -u
tutorial=$1 server=$2

fail() {
    echo "tutorial_run: $*" >&2
    exit 1
}

coproc SERVER { exec "$server" 0; }
# Bash unsets SERVER_PID once it has reaped the coprocess (which may be before `wait` below):
# keep the pid in a variable of our own.
server_pid=$SERVER_PID
trap 'kill -TERM "$server_pid" 2>/dev/null' EXIT
read -r -t 20 listening <&"${SERVER[0]}" || fail "$server did not say where it listens"
port=${listening##*:}

for form in "" --ec; do
    out=$("$tutorial" 127.0.0.1 "$port" $form 2>&1) || fail "tutorial $form exited $?: $out"
    echoes=$(grep -c "echo: hello from the tutorial" <<<"$out")
    [ "$echoes" -eq 2 ] || fail "tutorial $form echoed $echoes lines, not 2: $out"
    grep -q "the 10 s wait ended after .* Operation canceled" <<<"$out" ||
        fail "tutorial $form: no cancelled timer: $out"
done

kill -TERM "$server_pid"
wait "$server_pid" || fail "echo_server exited $? on SIGTERM"

out=$("$tutorial" 127.0.0.1 "$port" 2>&1)
status=$?
[ "$status" -eq 1 ] || fail "against a closed port the tutorial exited $status, not 1: $out"
grep -q "^tutorial: cio_tcp_socket_connect failed: Connection refused$" <<<"$out" ||
    fail "against a closed port: $out"
echo "tutorial_run: the tutorial's program ran as the tutorial says"
