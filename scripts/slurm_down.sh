#!/usr/bin/env bash
# Stop what scripts/slurm_up.sh started: cancel jobs, stop slurmd,
# slurmctld and munged, by the pids they wrote.
set -uo pipefail
STATE=${MEALAB_SLURM_STATE:-/tmp/mealab-slurm}
export PATH="$PATH:/usr/sbin:/sbin"
[ -f /etc/slurm/slurm.conf ] && grep -q "Written by mealab" /etc/slurm/slurm.conf || { echo "slurm_down: no mealab Slurm here"; exit 0; }
scancel --user="$(id -un)" >/dev/null 2>&1 || true
stop() { # pidfile name
  local pid
  [ -f "$1" ] || return 0
  pid=$(cat "$1" 2>/dev/null)
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}
stop "$STATE/run/slurmd.pid"
stop "$STATE/run/slurmctld.pid"
stop /run/munge/munged.pid
echo "slurm_down: stopped"
