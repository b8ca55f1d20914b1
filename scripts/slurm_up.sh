#!/usr/bin/env bash
# Start a one-node Slurm on this machine for mealab's sweep tests: installs
# Debian's slurm-wlm and munge when missing, writes a slurm.conf for this
# host (no accounting database), starts munged, slurmctld and slurmd, and
# waits until the node is idle.
#
# Exit codes: 0 Slurm is up; 77 Slurm cannot start here (the reason is
# printed; callers skip their Slurm tests); anything else is a bug.
# Stop it with scripts/slurm_down.sh.
#
# Environment: MEALAB_SLURM_STATE (default /tmp/mealab-slurm) holds the
# spool, logs and pid files; MEALAB_SLURM_NOINSTALL=1 never calls apt-get.
set -uo pipefail

STATE=${MEALAB_SLURM_STATE:-/tmp/mealab-slurm}
skip() { echo "slurm_up: skipped: $*" >&2; exit 77; }

if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
  echo "slurm_up: a Slurm is already answering:"; sinfo
  exit 0
fi
[ "$(id -u)" = 0 ] || skip "needs root to start munged, slurmctld and slurmd (run as root, or point sbatch at a real cluster)"

need_install=0
for b in munged slurmctld slurmd sbatch; do
  command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || need_install=1
done
if [ "$need_install" = 1 ]; then
  [ "${MEALAB_SLURM_NOINSTALL:-0}" = 1 ] && skip "slurm-wlm or munge is not installed (apt-get install slurm-wlm munge)"
  command -v apt-get >/dev/null 2>&1 || skip "slurm-wlm is not installed and there is no apt-get"
  echo "slurm_up: installing slurm-wlm and munge (apt-get)"
  if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge) >"/tmp/mealab-slurm-apt.log" 2>&1; then
    tail -5 /tmp/mealab-slurm-apt.log >&2
    skip "apt-get install slurm-wlm munge failed (log: /tmp/mealab-slurm-apt.log)"
  fi
fi
export PATH="$PATH:/usr/sbin:/sbin"

host=$(hostname -s)
cpus=$(nproc)
# RealMemory in MiB, leaving a little for the daemons.
mem=$(free -m | awk '/^Mem:/ {print $2}')
mem=$(( mem > 1024 ? mem - 512 : mem ))
[ -n "$host" ] || skip "hostname -s gives nothing"
# slurmd must resolve its own node name.
if ! getent hosts "$host" >/dev/null 2>&1; then
  echo "127.0.0.1 $host" >>/etc/hosts
fi

mkdir -p "$STATE"/{spool/ctld,spool/d,log,run} /etc/slurm
chmod 755 "$STATE"
cat >/etc/slurm/slurm.conf <<CONF
# Written by mealab's scripts/slurm_up.sh: one node, no accounting.
ClusterName=mealab
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
KillWait=10
MinJobAge=300
MaxArraySize=10001
SlurmdTimeout=60
InactiveLimit=0
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
rm -f /etc/slurm/cgroup.conf

# munge: the key exists after the package install; create one if not.
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown -R munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge 2>/dev/null || true
if [ ! -s /etc/munge/munge.key ]; then
  (command -v mungekey >/dev/null && mungekey --create --force) || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
fi
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  if command -v runuser >/dev/null; then runuser -u munge -- /usr/sbin/munged --force || true; else /usr/sbin/munged --force || true; fi
  for _ in $(seq 20); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
  munge -n 2>/dev/null | unmunge >/dev/null 2>&1 || skip "munged does not start (see /var/log/munge/munged.log)"
fi

pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld -i || skip "slurmctld does not start (see $STATE/log/slurmctld.log)"
pgrep -x slurmd >/dev/null || /usr/sbin/slurmd || skip "slurmd does not start (see $STATE/log/slurmd.log)"

for _ in $(seq 60); do
  st=$(sinfo -h -n "$host" -o '%T' 2>/dev/null | head -1)
  case "$st" in
    idle|mixed|allocated) echo "slurm_up: node $host ($cpus CPUs, $mem MiB) is $st"; sinfo; exit 0 ;;
    down*|drain*|fail*) scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true ;;
  esac
  sleep 0.5
done
tail -5 "$STATE/log/slurmctld.log" "$STATE/log/slurmd.log" >&2 2>/dev/null
skip "the node did not become idle within 30 s (state: ${st:-none}; logs in $STATE/log)"
