#!/usr/bin/env bash
# Terminal end-to-end test of the lab's UI: build mealab, run it in a
# detached tmux session (tmux provides the terminal, so this runs in CI
# without one) at 100x30 without colour, wait for training to move,
# compress a run's KV heads from the keyboard, check that the event and the
# KV panel show it, and quit. Screens are saved to $OUT_DIR (or a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "e2e_tui: FAIL: $*" >&2; exit 1; }
command -v tmux >/dev/null 2>&1 || fail "tmux is not installed (apt-get install -y tmux)"

tmp=$(mktemp -d)
out=${OUT_DIR:-$tmp/screens}
mkdir -p "$out"
sock="$tmp/tmux.sock"          # a private tmux server: never touch the user's
sess=lab
t() { tmux -S "$sock" "$@"; }
cleanup() {
  t kill-server >/dev/null 2>&1 || true
  rm -f "$sock" "$tmp/mealab" "$tmp/stderr" "$tmp/exit"
}
trap cleanup EXIT

echo "e2e_tui: building"
go build -o "$tmp/mealab" ./cmd/mealab

# Enough steps that the run is still training when the surgery arrives, on
# any machine (a fast one trains the quick preset at 130k tok/s: 3000 steps
# were done in under half a minute). The test quits long before the end.
STEPS=200000
t new-session -d -s "$sess" -x 100 -y 30 \
  "NO_COLOR=1 '$tmp/mealab' --preset quick --set steps=$STEPS 2>'$tmp/stderr'; echo \$? >'$tmp/exit'"

screen() { t capture-pane -p -t "$sess" 2>/dev/null || true; }
save() { screen >"$out/$1.txt"; }

# wait_for DESCRIPTION SECONDS COMMAND...: polls until COMMAND succeeds on
# the screen text (given on stdin), at most SECONDS.
wait_for() {
  local what=$1 secs=$2; shift 2
  local end=$((SECONDS + secs))
  while ((SECONDS < end)); do
    if screen | "$@" >/dev/null 2>&1; then return 0; fi
    if [ -f "$tmp/exit" ]; then
      fail "mealab exited (code $(cat "$tmp/exit")) while waiting for $what: $(cat "$tmp/stderr" 2>/dev/null)"
    fi
    sleep 0.2
  done
  save "timeout"
  echo "--- screen at timeout:" >&2; cat "$out/timeout.txt" >&2
  fail "timed out after ${secs}s waiting for $what"
}

step_of_first_run() { screen | grep -o "[0-9]\\+/$STEPS" | head -1 | cut -d/ -f1; }

wait_for "the runs table" 60 grep -q 'mha'
wait_for "training to start" 60 grep -q "[1-9][0-9]*/$STEPS"
s1=$(step_of_first_run)
wait_for "the step counter to move past $s1" 60 awk -v s="$s1" -v total="$STEPS" 'match($0, "[0-9]+/" total) { n = substr($0, RSTART, RLENGTH); sub(/\/.*/, "", n); if (n + 0 > s + 0) found = 1 } END { exit !found }'
save "1-training"
echo "e2e_tui: training moves (step $s1 -> $(step_of_first_run))"

# The KV panel before the surgery: every run at 1.0 KiB per token.
t send-keys -t "$sess" 2
wait_for "the KV panel" 10 grep -q 'per token'
save "2-kv-before"
grep -q '256 B' "$out/2-kv-before.txt" && fail "the KV panel shows 256 B before any surgery"

# Select the first run, open surgery, compress its KV heads to 1, apply.
t send-keys -t "$sess" 1 k k
t send-keys -t "$sess" s
wait_for "the surgery dialog" 10 grep -q 'Head surgery on mha'
t send-keys -t "$sess" 1
wait_for "the preview of compress 1" 10 grep -q 'saves 75%'
save "3-surgery-dialog"
t send-keys -t "$sess" Enter
wait_for "the surgery event on the chart" 30 grep -q 'S@[0-9]* mha: compress 1'
save "4-after-surgery"

t send-keys -t "$sess" 2
wait_for "the KV panel to show the compressed run" 10 grep -q '256 B'
wait_for "the saving against the baseline" 10 grep -q 'saves 75%'
save "5-kv-after"
echo "e2e_tui: surgery shown on the chart and in the KV panel"

# Quit: without a session the lab asks first.
t send-keys -t "$sess" q
wait_for "the quit question" 10 grep -q 'Quit?'
t send-keys -t "$sess" y
end=$((SECONDS + 20))
while [ ! -f "$tmp/exit" ] && ((SECONDS < end)); do sleep 0.2; done
[ -f "$tmp/exit" ] || fail "mealab did not quit within 20 s of q y"
code=$(cat "$tmp/exit")
[ "$code" = 0 ] || fail "mealab exited with code $code: $(cat "$tmp/stderr")"
echo "e2e_tui: ok (screens in $out)"
