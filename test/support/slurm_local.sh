#!/usr/bin/env bash
# Starts and stops a private, single-node Slurm (munged + slurmctld + slurmd) on
# this machine, for end-to-end tests of the `batch` profile kind (sbatch/squeue/
# scancel). Everything lives under one directory, so tests can run it without
# touching /etc/slurm, /etc/munge or the default ports 6817/6818.
#
# Usage:
#   eval "$(test/support/slurm_local.sh start DIR)"   # prints `export SLURM_CONF=...`
#   sbatch --parsable --wrap 'sleep 1'                # ... tests ...
#   test/support/slurm_local.sh stop DIR
#
# Exit codes of `start`:
#   0   the node is idle and accepts jobs; stdout holds the env a client needs
#       (only SLURM_CONF: the munge socket path reaches clients through
#       AuthInfo=socket=... inside slurm.conf, so no other variable is needed)
#   77  Slurm or munge is not installed, or cannot run here (one line on stderr)
#       so a test can skip; set SLURM_LOCAL_REQUIRE=1 to turn that into exit 1
#       (for CI, where the packages are installed and a skip would hide a bug)
#   1   the start failed: the daemons' log tails are on stderr, and whatever
#       had started has been stopped again
#
# Debian 12 packages: slurm-wlm (pulls slurmctld, slurmd, slurm-client,
# slurm-wlm-basic-plugins) and munge; install with
#   apt-get install -y --no-install-recommends slurm-wlm munge
#
# Behaviour worth knowing when writing tests against it:
#   - start takes ~0.3-0.6 s, but slurmctld runs its first scheduling pass
#     about 3 s after it starts, so a job submitted at once stays PENDING until
#     then; later jobs leave PENDING within ~1 s (one scheduler tick).
#   - a finished job disappears from plain 'squeue -j ID'; use
#     'squeue -h -t all -j ID -o %T' to read COMPLETED/FAILED/CANCELLED.
#   - stop takes ~1 s. The daemons' exited processes may show as <defunct>
#     in ps for a second or two more, until the container's init reaps them.
#
# Environment knobs: SLURM_LOCAL_TIMEOUT (seconds to wait for the node to go
# idle, default 60), SLURM_LOCAL_REQUIRE (see above).
set -euo pipefail

prog=slurm_local
timeout_s=${SLURM_LOCAL_TIMEOUT:-60}

say() { echo "$prog: $*" >&2; }

# Exit 77 ("skip") unless the caller insists the harness must work.
skip() {
  say "SKIP: $*"
  if [[ ${SLURM_LOCAL_REQUIRE:-0} == 1 ]]; then exit 1; fi
  exit 77
}

usage() {
  echo "usage: $0 start DIR | stop DIR | status DIR" >&2
  exit 2
}

# Wall clock in milliseconds, for deadlines and the "ready in" line.
now_ms() { local t; t=$(date +%s%N); echo $((t / 1000000)); }

# A zombie whose threads have all ended counts as gone: a daemon that exited is
# reparented to the container's init, which may take a second or two to reap it.
pid_alive() {
  [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null || return 1
  grep -qs '^State:[[:space:]]*Z' "/proc/$1/status" || return 0
  local -a tasks=("/proc/$1/task/"*)
  ((${#tasks[@]} > 1))
}

pid_from() { if [[ -s $1 ]]; then tr -dc '0-9' <"$1"; fi; }

# True when some socket on this host already uses TCP port $1 (any state, any
# address, v4 or v6). Reads /proc directly so it needs neither ss nor netstat.
port_in_use() {
  local hex f
  hex=$(printf ':%04X ' "$1")
  for f in /proc/net/tcp /proc/net/tcp6; do
    [[ -r $f ]] && grep -q "$hex" "$f" && return 0
  done
  return 1
}

# Prints a TCP port nobody uses right now, below the kernel's ephemeral range
# (32768+) so outgoing connections will not take it between now and the bind.
# Two harnesses racing for the same port is still possible; start retries.
free_port() {
  local p tries=0 avoid=${1:-0}
  while ((tries++ < 200)); do
    p=$((15000 + RANDOM % 17000))
    ((p == avoid)) && continue
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  return 1
}

# Polls "$@" every 0.2 s until it succeeds or $timeout_s passes.
wait_until() {
  local deadline=$(($(now_ms) + timeout_s * 1000))
  until "$@"; do
    (($(now_ms) < deadline)) || return 1
    sleep 0.2
  done
}

# Every process this harness started for DIR carries SLURM_LOCAL_HARNESS_DIR=DIR
# in its environment, and slurmd hands it down to the slurmstepd it forks. That
# lets `stop` find a slurmstepd (which has no pid file) without touching anything
# else. (SLURM_CONF is NOT used as the marker: the test process itself exports it.)
has_marker() {
  { tr '\0' '\n' <"/proc/$1/environ"; } 2>/dev/null | grep -qxF "SLURM_LOCAL_HARNESS_DIR=$2"
}

marked_pids() {
  local dir=$1 e p
  for e in /proc/[0-9]*/environ; do
    p=${e#/proc/}; p=${p%/environ}
    [[ $p == "$$" ]] && continue
    has_marker "$p" "$dir" && echo "$p"
  done
  return 0
}

# The pid of daemon $2 (munged, slurmctld, slurmd) of DIR $1 if it still runs.
# The marker check keeps a stale pid file (say, after a reboot) from naming an
# unrelated process that reuses the pid.
daemon_pid() {
  local p; p=$(pid_from "$1/run/$2.pid")
  if pid_alive "$p" && has_marker "$p" "$1"; then echo "$p"; fi
}

# Children (recursively) of the given pids, read from /proc/*/status.
descendants() {
  local -A parent=()
  local s p pp
  for s in /proc/[0-9]*/status; do
    p=${s#/proc/}; p=${p%/status}
    pp=$(awk '/^PPid:/ {print $2; exit}' "$s" 2>/dev/null) || continue
    [[ -n $pp ]] && parent[$p]=$pp
  done
  local -a frontier=("$@") out=()
  while ((${#frontier[@]})); do
    local -a next=()
    for p in "${!parent[@]}"; do
      for pp in "${frontier[@]}"; do
        if [[ ${parent[$p]} == "$pp" ]]; then next+=("$p"); out+=("$p"); fi
      done
    done
    frontier=("${next[@]}")
  done
  ((${#out[@]})) && printf '%s\n' "${out[@]}"
  return 0
}

# SIGTERM the pids, wait up to $2 seconds, then SIGKILL whatever is left.
terminate() {
  local grace=$1; shift
  local -a pids=() left=()
  local p
  for p in "$@"; do pid_alive "$p" && pids+=("$p"); done
  ((${#pids[@]})) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  local deadline=$(($(now_ms) + grace * 1000))
  while :; do
    left=()
    for p in "${pids[@]}"; do pid_alive "$p" && left+=("$p"); done
    ((${#left[@]})) || return 0
    (($(now_ms) < deadline)) || break
    sleep 0.1
  done
  say "SIGKILL after ${grace}s: ${left[*]}"
  kill -KILL "${left[@]}" 2>/dev/null || true
  # Wait for them to be gone (they are not our children, so poll, briefly).
  deadline=$(($(now_ms) + 5000))
  for p in "${left[@]}"; do
    while pid_alive "$p" && (($(now_ms) < deadline)); do sleep 0.1; done
  done
}

tail_logs() {
  local dir=$1 f
  for f in "$dir"/log/*.log "$dir"/log/*.stdio; do
    [[ -s $f ]] || continue
    echo "----- tail of $f -----" >&2
    tail -n 25 "$f" >&2
  done
}

# ---------------------------------------------------------------------------
do_stop() {
  local dir=$1 conf=$1/slurm.conf
  [[ -d $dir ]] || return 0

  # Cancel jobs first while slurmctld and slurmd still run, so slurmstepd kills
  # the job processes itself (proctrack/linuxproc follows their parent chain).
  local ctld; ctld=$(daemon_pid "$dir" slurmctld)
  if [[ -n $ctld && -f $conf ]]; then
    local jobs
    jobs=$(SLURM_CONF=$conf timeout 5 squeue -h -o %A 2>/dev/null || true)
    if [[ -n $jobs ]]; then
      # shellcheck disable=SC2086  # one job id per word
      SLURM_CONF=$conf timeout 5 scancel $jobs 2>/dev/null || true
      local saved=$timeout_s; timeout_s=15
      wait_until jobs_gone "$conf" || say "jobs still listed at stop: $(SLURM_CONF=$conf squeue -h -o '%A %T' 2>/dev/null | tr '\n' ' ')"
      timeout_s=$saved
    fi
  fi

  # All three at once: none needs another to shut down cleanly.
  terminate 10 "$(daemon_pid "$dir" slurmd)" "$ctld" "$(daemon_pid "$dir" munged)"

  # Anything left that this harness started (e.g. a slurmstepd whose job did not
  # end), and everything it forked.
  local -a rest=()
  mapfile -t rest < <(marked_pids "$dir")
  if ((${#rest[@]})); then
    mapfile -t -O "${#rest[@]}" rest < <(descendants "${rest[@]}")
    # slurmstepd ignores SIGTERM, hence the short grace period.
    say "stopping leftover processes: ${rest[*]}"
    terminate 2 "${rest[@]}"
  fi

  # The munge socket may live outside DIR (see pick_munge_dir); remove it.
  if [[ -s $dir/munge_dir ]]; then
    local md; md=$(<"$dir/munge_dir")
    [[ $md == /tmp/slurm_local-munge.* ]] && rm -rf -- "$md"
    rm -f -- "$dir/munge_dir"
  fi
  rm -f -- "$dir"/run/*.pid
  return 0
}

jobs_gone() {
  # Only pending/running/completing jobs are listed by default; finished ones
  # are not, so an empty list means every job has ended.
  [[ -z $(SLURM_CONF=$1 squeue -h -o %A 2>/dev/null) ]]
}

# munged insists that every directory above its socket is searchable by all
# ("execute permissions for all required"), and a unix socket path must fit in
# 108 bytes. DIR/munge satisfies both in the usual case (DIR made by mktemp -d
# under /tmp, chmod 755 below); otherwise use a short directory under /tmp.
pick_munge_dir() {
  local dir=$1 d=$1
  local ok=1
  ((${#dir} <= 80)) || ok=0
  while [[ $ok == 1 && $d != / ]]; do
    d=$(dirname "$d")
    [[ $(stat -c %A "$d") == ?????????[xt] ]] || ok=0
  done
  if [[ $ok == 1 ]]; then
    mkdir -p "$dir/munge"; chmod 755 "$dir/munge"
    echo "$dir/munge"
  else
    d=$(mktemp -d /tmp/slurm_local-munge.XXXXXX)
    chmod 755 "$d"
    echo "$d" >"$dir/munge_dir"
    echo "$d"
  fi
}

write_conf() {
  local dir=$1 node=$2 hw=$3 ctld_port=$4 slurmd_port=$5 sock=$6
  cat >"$dir/slurm.conf" <<EOF
# Generated by test/support/slurm_local.sh: a one-node test cluster on loopback.
ClusterName=procmodtest
# Controller and node are this host, reached only through 127.0.0.1.
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
# Bind to the addresses above instead of INADDR_ANY.
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
# Tests run as root (CI does); the daemons do too.
SlurmUser=root
SlurmdUser=root
# munge auth through our private munged; clients learn the socket from here.
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
# All state, spool, pid and log files inside DIR.
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# An empty SPANK config, so nothing under /etc/slurm is read.
PlugStackConfig=$dir/plugstack.conf
# No cgroups in a container: track job processes by parent pid, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# slurmctld starts queued batch jobs from a loop that runs about once a second,
# but by default only every batch_sched_delay=3 s; 0 makes a job start within
# ~1 s of sbatch (the first job after start still waits ~3 s).
SchedulerParameters=batch_sched_delay=0
MailProg=/bin/true
# The node's declared CPUs/memory win over what slurmd detects, and the node
# comes back by itself after being marked down.
SlurmdParameters=config_overrides
ReturnToService=2
# Quick cancellations: SIGKILL 2 s after SIGTERM instead of 30 s.
KillWait=2
# Finished jobs stay in slurmctld's memory for 5 minutes: 'squeue -t all -j ID'
# shows COMPLETED/CANCELLED/FAILED/TIMEOUT... meanwhile (plain 'squeue -j ID'
# prints nothing once a job has ended), then "Invalid job id specified".
MinJobAge=300
NodeName=$node NodeHostname=$node NodeAddr=127.0.0.1 $hw RealMemory=1024 State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
  : >"$dir/plugstack.conf"
}

# Runs a daemon with the harness marker in its environment. The daemons fork
# into the background themselves (writing their pid files); their stdio goes to
# a file so they never hold the caller's stdout pipe open.
launch() {
  local dir=$1 name=$2; shift 2
  SLURM_LOCAL_HARNESS_DIR=$dir SLURM_CONF=$dir/slurm.conf \
    setsid "$@" </dev/null >>"$dir/log/$name.stdio" 2>&1
}

# Clients keep retrying a refused connection for ~10 s; a poll must not block
# that long, hence the timeouts.
ctld_up() { SLURM_CONF=$1 timeout 3 scontrol ping 2>/dev/null | grep -q 'is UP'; }

node_idle() {
  local state
  state=$(SLURM_CONF=$1 timeout 3 sinfo -h -n "$2" -o %T 2>/dev/null) || return 1
  [[ $state == idle ]]
}

bind_failed() { grep -qs 'Address already in use' "$1/log/slurmctld.log" "$1/log/slurmd.log"; }
daemon_fatal() { grep -qs 'fatal:' "$1/log/slurmctld.log" "$1/log/slurmd.log"; }

# Conditions for wait_until that also end the wait as soon as a daemon has
# visibly failed, instead of waiting out the whole deadline.
ctld_settled() { bind_failed "$1" || daemon_fatal "$1" || ctld_up "$1/slurm.conf"; }
node_settled() { bind_failed "$1" || daemon_fatal "$1" || node_idle "$1/slurm.conf" "$2"; }

do_start() {
  local dir=$1

  # --- can it run here at all? -------------------------------------------
  local c
  for c in munged mungekey munge slurmctld slurmd slurmstepd sinfo squeue sbatch scancel scontrol setsid; do
    command -v "$c" >/dev/null || skip "'$c' not found (apt-get install -y --no-install-recommends slurm-wlm munge)"
  done
  [[ $(id -u) == 0 ]] || skip "needs root (slurmd must be root to run jobs as their submitter; SlurmUser=root)"

  local t0; t0=$(now_ms)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd -P)   # absolute: slurm.conf paths and the marker need it
  local n
  for n in munged slurmctld slurmd; do
    if [[ -n $(daemon_pid "$dir" "$n") ]]; then
      say "$n already running in $dir (stop it first)"; exit 1
    fi
  done
  # Fresh state every time: old job state would otherwise be recovered.
  rm -rf -- "$dir/state" "$dir/spool" "$dir/run" "$dir/log"
  mkdir -p "$dir/state" "$dir/spool" "$dir/run" "$dir/log"
  chmod 755 "$dir"             # munged: socket's parents searchable by all

  local node; node=$(hostname -s 2>/dev/null || true)
  [[ $node =~ ^[A-Za-z0-9][A-Za-z0-9-]*$ ]] || node=localhost
  # Declare the node's topology as slurmd detects it (avoids a "Node
  # configuration differs from hardware" line), unless a CPU limit on this
  # container makes nproc smaller: then CPUs=nproc alone.
  local cpus; cpus=$(nproc)
  local hw; hw=$(slurmd -C 2>/dev/null | sed -n 's/^NodeName=[^ ]* \(CPUs=[0-9]* .*\) RealMemory=.*/\1/p' || true)
  [[ $hw == "CPUs=$cpus "* ]] || hw="CPUs=$cpus"

  # On any failure from here on: show the logs, undo the start, exit 1.
  fail() {
    say "start failed: $*"
    tail_logs "$dir"
    do_stop "$dir"
    exit 1
  }

  # --- munge: private key, socket, pid, log ------------------------------
  local mdir; mdir=$(pick_munge_dir "$dir")
  local sock=$mdir/munge.sock
  mungekey --create --force --keyfile="$dir/munge.key" 2>>"$dir/log/munged.log" \
    || fail "mungekey"
  chmod 600 "$dir/munge.key"
  launch "$dir" munged munged --socket="$sock" --key-file="$dir/munge.key" \
    --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munged.seed" || fail "munged did not start"
  wait_until munge_ok "$sock" || fail "munged does not answer on $sock"

  # --- slurmctld + slurmd, retried if a port was taken meanwhile -----------
  local ctld_port slurmd_port started=0 _
  for _ in 1 2 3; do
    ctld_port=$(free_port) || fail "no free TCP port"
    slurmd_port=$(free_port "$ctld_port") || fail "no free TCP port"
    write_conf "$dir" "$node" "$hw" "$ctld_port" "$slurmd_port" "$sock"
    local conf=$dir/slurm.conf

    # -c -i: start with an empty job list and ignore unreadable state.
    launch "$dir" slurmctld slurmctld -c -i -f "$conf" || fail "slurmctld exited at once"
    wait_until ctld_settled "$dir" \
      || fail "slurmctld not answering on 127.0.0.1:$ctld_port after ${timeout_s}s"
    if bind_failed "$dir"; then say "port clash, retrying"; do_stop_slurm "$dir"; continue; fi
    daemon_fatal "$dir" && fail "slurmctld stopped with a fatal error"

    launch "$dir" slurmd slurmd -f "$conf" -N "$node" || fail "slurmd exited at once"
    wait_until node_settled "$dir" "$node" \
      || fail "node $node not idle after ${timeout_s}s: $(SLURM_CONF=$conf timeout 15 sinfo -h -N -o '%N %T %E' 2>&1)"
    if bind_failed "$dir"; then say "port clash, retrying"; do_stop_slurm "$dir"; continue; fi
    daemon_fatal "$dir" && fail "slurmd stopped with a fatal error"
    started=1; break
  done
  ((started)) || fail "could not find free ports"

  printf 'export SLURM_CONF=%q\n' "$dir/slurm.conf" | tee "$dir/env"
  say "ready in $(($(now_ms) - t0))ms: node $node, $cpus CPUs, slurmctld 127.0.0.1:$ctld_port, slurmd 127.0.0.1:$slurmd_port"
}

munge_ok() { munge --socket="$1" --no-input </dev/null >/dev/null 2>&1; }

# Stops only slurmd and slurmctld (for a retry with other ports).
do_stop_slurm() {
  terminate 10 "$(daemon_pid "$1" slurmd)" "$(daemon_pid "$1" slurmctld)"
  rm -rf -- "$1/state" "$1/spool"; mkdir -p "$1/state" "$1/spool"
  : >"$1/log/slurmctld.log"; : >"$1/log/slurmd.log"
}

do_status() {
  local dir=$1 n
  for n in munged slurmctld slurmd; do
    local p; p=$(daemon_pid "$dir" "$n")
    if [[ -n $p ]]; then echo "$n running (pid $p)"; else echo "$n not running"; fi
  done
}

(($# == 2)) || usage
case $1 in
  start)  do_start "$2" ;;
  stop)   if [[ -d $2 ]]; then do_stop "$(cd "$2" && pwd -P)"; fi ;;
  status) do_status "$(cd "$2" && pwd -P)" ;;
  *)      usage ;;
esac
