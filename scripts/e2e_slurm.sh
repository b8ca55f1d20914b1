#!/usr/bin/env bash
# End-to-end test of mealab sweeps on a real Slurm (one node, this machine):
# the same 6-run grid as a local sweep and as a Slurm array job
# (--array-limit 2), one task cancelled mid-run with scancel and resubmitted;
# every run must end with a continuous curve and the same losses, step by
# step, as the local sweep. Starts Slurm with scripts/slurm_up.sh when none
# answers (and stops it again); says why and exits 0 when Slurm cannot
# start here. Bounded: about a minute, at most 3.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin:/usr/local/go/bin"
# Long enough that a task caught early is still running when scancel lands,
# on a machine twice as fast as this one (a 400-step task was cancelled at
# step 141 here, after being caught at 100).
STEPS=${MEALAB_E2E_STEPS:-1200}
T0=$(date +%s)
fail() { echo "e2e_slurm: FAIL: $*" >&2; exit 1; }
say() { echo "e2e_slurm: [$(( $(date +%s) - T0 ))s] $*"; }

we_started=0
if ! sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
  scripts/slurm_up.sh
  rc=$?
  if [ $rc = 77 ]; then echo "e2e_slurm: skipped (Slurm cannot start here, see above)"; exit 0; fi
  [ $rc = 0 ] || fail "scripts/slurm_up.sh exited $rc"
  we_started=1
fi
work=$(mktemp -d /tmp/mealab-e2e-slurm.XXXXXX)
job=""
cleanup() {
  [ -n "$job" ] && scancel "$job" >/dev/null 2>&1
  [ $we_started = 1 ] && scripts/slurm_down.sh >/dev/null 2>&1
  [ "${MEALAB_E2E_KEEP:-0}" = 1 ] && echo "e2e_slurm: kept $work" || rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work"
M=$work/mealab
D=$work/sessions
go build -o "$M" ./cmd/mealab || fail "go build"
GRID=(sweep-demo --set steps=$STEPS)

say "local sweep of ${GRID[*]}"
timeout 120 "$M" sweep "${GRID[@]}" --session local --dir "$D" --threads 1 --parallel 2 >"$work/local.txt" 2>&1 || { cat "$work/local.txt"; fail "local sweep"; }

say "submitting the same grid to Slurm"
timeout 30 "$M" sweep "${GRID[@]}" --slurm --array-limit 2 --cpus-per-task 1 --mem 512M --time 0:05:00 \
  --session cluster --dir "$D" >"$work/submit.txt" 2>&1 || { cat "$work/submit.txt"; fail "submit"; }
cat "$work/submit.txt"
job=$(tail -1 "$work/submit.txt")
[[ "$job" =~ ^[0-9]+$ ]] || fail "no job id in the submit output"
[ -f "$D/cluster/sweep/job-1.sbatch" ] || fail "no batch script next to the session"

# Cancel one task once it is past its first checkpoint (step 50).
victim=""
for _ in $(seq 480); do
  "$M" sweep status cluster --dir "$D" >"$work/status-running.txt" 2>&1
  victim=$(awk -v most=$((STEPS / 3)) '$3 == "running" { split($4, s, "/"); if (s[1]+0 >= 80 && s[1]+0 <= most) { print $1; exit } }' "$work/status-running.txt")
  [ -n "$victim" ] && break
  sleep 0.25
done
[ -n "$victim" ] || { cat "$work/status-running.txt"; fail "no task was caught running between step 80 and $((STEPS / 3)) within 2 minutes"; }
say "status while it runs:"; cat "$work/status-running.txt"
say "scancel ${job}_$victim"
scancel "${job}_$victim" || fail "scancel"

timeout 150 "$M" sweep status cluster --dir "$D" --wait --poll 1s >"$work/wait1.txt" 2>&1
rc=$?
cat "$work/wait1.txt"
[ $rc = 1 ] || fail "sweep status --wait exited $rc, want 1 (one task was cancelled)"
grep -qE "^$victim +[^ ]+ +failed" "$work/wait1.txt" || fail "the cancelled task is not reported failed"

say "resubmitting the failed task"
timeout 150 "$M" sweep resubmit cluster --dir "$D" --failed --wait --poll 1s >"$work/wait2.txt" 2>&1 || { cat "$work/wait2.txt"; fail "resubmit --wait"; }
cat "$work/wait2.txt"
grep -q "6 done, 0 failed" "$work/wait2.txt" || fail "not every run is done after the resubmission"

say "comparing every run's curve with the local sweep"
"$M" sessions export local --dir "$D" --csv "$work/csv-local" >/dev/null || fail "export local"
"$M" sessions export cluster --dir "$D" --csv "$work/csv-cluster" >/dev/null || fail "export cluster"
n=0
for f in "$work"/csv-local/*.csv; do
  g="$work/csv-cluster/$(basename "$f")"
  [ -f "$g" ] || fail "run $(basename "$f" .csv) is missing from the Slurm session"
  # step, tokens, loss, val_loss, lr, grad_norm, max_logit: everything but wall time and speed.
  diff <(cut -d, -f1,2,4,5,7,8,9 "$f") <(cut -d, -f1,2,4,5,7,8,9 "$g") >/dev/null || fail "run $(basename "$f" .csv): losses differ between the local sweep and Slurm"
  awk -F, -v want="$STEPS" 'NR > 1 { if ($1 != NR - 1) { print "gap at row " NR; exit 1 } } END { if (NR - 1 != want) { print NR - 1 " steps, want " want; exit 1 } }' "$g" || fail "run $(basename "$g" .csv): the curve is not continuous"
  n=$((n + 1))
done
[ $n = 6 ] || fail "$n runs, want 6"
grep -q "mealab train: only" "$D"/cluster/sweep/logs/${job}_${victim}.out || fail "no log of the cancelled task"
say "ok: 6 runs, continuous curves, losses equal to the local sweep, task $victim cancelled and resumed"
