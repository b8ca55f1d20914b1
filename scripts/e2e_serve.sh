#!/usr/bin/env bash
# End-to-end test of `mealab serve` with the real OpenSSH client: a server on
# 127.0.0.1, and in a private tmux server a teacher, two students and a
# guest connect with `ssh`. A student follows the teacher (read-only) and
# takes a run into their own lab; the teacher kicks the guest from the admin
# view; shell, exec, port forwarding and SFTP are refused; after a restart
# the host key is the same (strict known_hosts) and the student's lab is
# back. Screens are saved to $OUT_DIR (or a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "e2e_serve: FAIL: $*" >&2; exit 1; }
command -v tmux >/dev/null 2>&1 || fail "tmux is not installed (apt-get install -y tmux)"
command -v ssh >/dev/null 2>&1 || fail "the OpenSSH client is not installed (apt-get install -y openssh-client)"

port=${E2E_SERVE_PORT:-22250}
tmp=$(mktemp -d)
out=${OUT_DIR:-$tmp/screens}
mkdir -p "$out"
sock="$tmp/tmux.sock"
t() { tmux -S "$sock" "$@"; }
server_pid=""
cleanup() {
  t kill-server >/dev/null 2>&1 || true
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp/data" "$tmp/mealab"
}
trap cleanup EXIT

echo "e2e_serve: building"
go build -o "$tmp/mealab" ./cmd/mealab

mkdir -p "$tmp/keys"
for n in teacher alice bob guest; do
  ssh-keygen -q -t ed25519 -N '' -C "$n@e2e" -f "$tmp/keys/$n"
done
cat "$tmp/keys/teacher.pub" "$tmp/keys/alice.pub" "$tmp/keys/bob.pub" >"$tmp/class_keys"

start_server() { # extra flags (--open) as arguments
  # The log is appended across restarts: wait for a new "listening" line,
  # not the previous server's.
  local before
  before=$(grep -c listening "$out/serve.log" 2>/dev/null || true)
  "$tmp/mealab" serve --addr "127.0.0.1:$port" --authorized-keys "$tmp/class_keys" --data-dir "$tmp/data" \
    "$@" --preset quick --set steps=100000 --set sample_every=0 --threads 1 --fps 4 \
    >>"$tmp/serve.out" 2>>"$out/serve.log" &
  server_pid=$!
  for _ in $(seq 50); do
    [ "$(grep -c listening "$out/serve.log" 2>/dev/null || true)" -gt "${before:-0}" ] && return 0
    sleep 0.1
  done
  fail "the server did not start: $(cat "$out/serve.log")"
}
stop_server() {
  kill -INT "$server_pid"
  wait "$server_pid" || fail "the server exited with an error on SIGINT"
  server_pid=""
}

sshopts=(-p "$port" -o UserKnownHostsFile="$tmp/known_hosts" -o IdentitiesOnly=yes -o BatchMode=yes -o LogLevel=ERROR)
# connect NAME WINDOW COLS ROWS [COMMAND]: ssh in a tmux window.
connect() {
  local who=$1 win=$2 cols=$3 rows=$4; shift 4
  t new-window -d -t e2e -n "$win" \
    "NO_COLOR=1 ssh ${sshopts[*]} -o StrictHostKeyChecking=accept-new -i '$tmp/keys/$who' -t 127.0.0.1 $* ; echo \$? >'$tmp/exit-$win'; sleep 30"
  t resize-window -t "e2e:$win" -x "$cols" -y "$rows" 2>/dev/null || true
}
screen() { t capture-pane -p -t "e2e:$1" 2>/dev/null || true; }
save() { screen "$1" >"$out/$2.txt"; }
wait_for() { # WINDOW WHAT SECONDS PATTERN
  local win=$1 what=$2 secs=$3 pat=$4
  local end=$((SECONDS + secs))
  while ((SECONDS < end)); do
    if screen "$win" | grep -q -- "$pat"; then return 0; fi
    sleep 0.2
  done
  save "$win" "timeout-$win"
  echo "--- $win at timeout:" >&2; cat "$out/timeout-$win.txt" >&2
  echo "--- server log:" >&2; tail -20 "$out/serve.log" >&2
  fail "timed out after ${secs}s waiting for $what"
}
log_has() { grep -q -- "$1" "$out/serve.log" || fail "the server log lacks: $1"; }

start_server --open
t new-session -d -s e2e -n idle -x 100 -y 30
connect teacher teacher 100 30
wait_for teacher "the teacher's lab" 30 "teacher's lab"
wait_for teacher "the teacher's runs training" 30 "running"
connect alice alice 100 30
wait_for alice "alice's lab" 30 "alice's lab"
connect bob bob 100 30 follow teacher
wait_for bob "bob following the teacher" 30 "following teacher (read-only)"
connect guest guest 80 24
wait_for guest "the guest's lab" 30 "guest-"
save teacher teacher
save alice student
save bob follower
save guest guest
echo "e2e_serve: teacher, two students and a guest are in"

# The follower cannot change the teacher's lab.
t send-keys -t e2e:bob p
wait_for bob "the read-only refusal" 10 "read-only: this is teacher's lab"
# T takes the selected run; b goes back to bob's own lab, where it trains.
t send-keys -t e2e:bob T
wait_for bob "the take" 20 "took teacher.mha"
save bob follower-take
t send-keys -t e2e:bob b
wait_for bob "bob's own lab" 20 "bob's lab"
wait_for bob "the taken run in bob's lab" 20 "teacher.mha"
save bob student-after-take
log_has "msg=take user=bob from=teacher"
echo "e2e_serve: bob followed the teacher and took teacher.mha"

# The teacher kicks the guest from the admin view.
t send-keys -t e2e:teacher A
wait_for teacher "the admin view" 20 "Classroom: who is here"
wait_for teacher "the guest in the admin view" 20 "guest-"
# Rows are sorted by name: alice, bob, guest-..., teacher; the cursor starts on alice.
t send-keys -t e2e:teacher Down Down
wait_for teacher "the cursor on the guest" 10 "> guest-"
save teacher admin
t send-keys -t e2e:teacher k
wait_for teacher "the kick question" 10 "Kick guest-"
t send-keys -t e2e:teacher y
wait_for teacher "the kick report" 10 "kicked guest-"
for _ in $(seq 50); do [ -f "$tmp/exit-guest" ] && break; sleep 0.2; done
[ -f "$tmp/exit-guest" ] || fail "the guest's ssh did not end after the kick"
log_has "msg=kick user=guest-"
echo "e2e_serve: the teacher kicked the guest (ssh exit $(cat "$tmp/exit-guest"))"

# Refusals with the real client.
set +e
ssh "${sshopts[@]}" -o StrictHostKeyChecking=yes -i "$tmp/keys/alice" -tt 127.0.0.1 ls </dev/null >"$tmp/ls.out" 2>&1
ls_code=$?
ssh "${sshopts[@]}" -o StrictHostKeyChecking=yes -i "$tmp/keys/alice" -W 127.0.0.1:22 127.0.0.1 </dev/null >"$tmp/w.out" 2>&1
w_code=$?
ssh "${sshopts[@]}" -o StrictHostKeyChecking=yes -i "$tmp/keys/alice" -s 127.0.0.1 sftp </dev/null >"$tmp/sftp.out" 2>&1
sftp_code=$?
set -e
[ "$ls_code" = 2 ] || fail "ssh HOST ls exited $ls_code, want 2: $(cat "$tmp/ls.out")"
grep -q "no shell" "$tmp/ls.out" || fail "ssh HOST ls did not say why: $(cat "$tmp/ls.out")"
[ "$w_code" != 0 ] || fail "ssh -W (port forwarding) worked"
[ "$sftp_code" != 0 ] || fail "the sftp subsystem worked"
log_has 'why=command'
log_has 'why="channel direct-tcpip"'
log_has 'why="subsystem sftp"'
echo "e2e_serve: exec (exit $ls_code), port forwarding (exit $w_code) and sftp (exit $sftp_code) refused and logged"

# Restart without --open: same host key (strict known_hosts), alice's lab
# is back, and an unknown key is turned away.
t kill-window -t e2e:alice
stop_server
log_has 'msg="host key"'
start_server
grep -q 'created=false' "$out/serve.log" || fail "the host key was not reused"
t new-window -d -t e2e -n alice2 \
  "NO_COLOR=1 ssh ${sshopts[*]} -o StrictHostKeyChecking=yes -i '$tmp/keys/alice' -t 127.0.0.1; echo \$? >'$tmp/exit-alice2'; sleep 30"
t resize-window -t e2e:alice2 -x 100 -y 30 2>/dev/null || true
wait_for alice2 "alice's lab after the restart" 30 "alice's lab"
wait_for alice2 "alice's runs after the restart" 30 "mea"
save alice2 student-after-restart
echo "e2e_serve: after a restart the host key is the same and alice's lab is back"
ssh-keygen -q -t ed25519 -N '' -C stranger -f "$tmp/keys/stranger"
set +e
ssh "${sshopts[@]}" -o StrictHostKeyChecking=yes -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no \
  -i "$tmp/keys/stranger" -tt 127.0.0.1 </dev/null >"$tmp/stranger.out" 2>&1
stranger_code=$?
set -e
[ "$stranger_code" = 255 ] || fail "an unknown key without --open: ssh exit $stranger_code, want 255 (refused)"
grep -q "Permission denied (publickey)" "$tmp/stranger.out" || fail "an unknown key was not refused as publickey-only: $(cat "$tmp/stranger.out")"
log_has 'result=rejected'
echo "e2e_serve: an unknown key is refused (publickey only) without --open"
echo "e2e_serve: PASS (screens in $out)"
