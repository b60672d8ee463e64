#!/usr/bin/env bash
# slurm-local: a real single-node SLURM cluster on this machine, so that CI runs the workflow
# through snakemake-executor-plugin-slurm with profiles/slurm (tests/test_slurm.py).
# Adapted from ../shared/research/slurm-local-proposal.sh (the research note
# ../shared/research/snakemake.md records how it was brought up and every pitfall met).
#
#   bash .ci/slurm-local.sh start [--accounting]   install on first use, configure, start, wait until idle
#   bash .ci/slurm-local.sh status                 daemons, node state (exit 1 if slurmctld or slurmd is down)
#   bash .ci/slurm-local.sh stop [--purge]         stop the daemons by PID; --purge also deletes state/logs
#
# What it starts: munged, slurmctld, slurmd; with --accounting also MariaDB (Unix socket only, no
# TCP port) and slurmdbd, so that `sacct` works as on a production cluster. CI runs without it
# (decision: accounting costs ~27 s of install and a database, and nothing we test needs it):
# AccountingStorageType is accounting_storage/none, `sacct` answers "Slurm accounting storage is
# disabled", and profiles/slurm therefore asks the plugin for `squeue` status queries (with the
# plugin's default, sacct, it never sees a job finish there and the run hangs without an error).
#
# Needs: root, Debian 12 (bookworm) packages (Slurm 22.05.8, munge 0.5.15, MariaDB 10.11), no
# systemd (daemons are started directly, as in a container or CI VM). Idempotent: `start` on a running
# cluster only waits for the node (and restarts the Slurm daemons if the config it writes changed);
# `stop` on a stopped one does nothing. Measured (research note, 2-core CI-class VM): first install
# 15 s (6 packages, 3.4 MB), +27 s for --accounting (slurmdbd + MariaDB, 18 MB); start 0.3-1 s,
# 2-5 s with --accounting; stop --purge 5-11 s.
set -euo pipefail

# --- settings (environment overrides) ------------------------------------------------------------
CLUSTER=${SLURM_LOCAL_CLUSTER:-local}
PARTITION=${SLURM_LOCAL_PARTITION:-ci}
NODE=$(hostname -s)
CONF_DIR=/etc/slurm                 # Debian's default: every client (sbatch, squeue, ...) reads it
STATE=/var/lib/slurm-local          # our own state/spool dirs, so --purge can remove them whole
LOGS=/var/log/slurm-local
MARK="# written by slurm-local.sh"  # only files carrying this line are replaced or removed
WAIT_S=${SLURM_LOCAL_WAIT_S:-60}

die() { echo "slurm-local: $*" >&2; exit 1; }
say() { echo "slurm-local: $*"; }
[ "$(id -u)" = 0 ] || die "must run as root"

# --- process helpers: a daemon is identified by its pid file AND its command name ------------------
# (a stale pid file whose PID was reused by another process is never signalled)
alive() {  # alive PIDFILE COMM
  local pid
  [ -s "$1" ] || return 1
  pid=$(cat "$1")
  [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$2" ]
}

stop_daemon() {  # stop_daemon PIDFILE COMM
  local pid _
  alive "$1" "$2" || { rm -f "$1"; return 0; }
  pid=$(cat "$1")
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then say "$2 ($pid) ignored SIGTERM for 20 s, sending SIGKILL"; kill -KILL "$pid"; fi
  rm -f "$1"
  say "stopped $2 ($pid)"
}

wait_for() {  # wait_for DESCRIPTION COMMAND...   (polls every 0.2 s, up to WAIT_S)
  local what=$1 _; shift
  for _ in $(seq 1 $((WAIT_S * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  die "timed out after ${WAIT_S}s waiting for $what (logs: $LOGS)"
}

# --- install ---------------------------------------------------------------------------------------
install_packages() {
  local pkgs=() p
  command -v slurmctld >/dev/null || pkgs+=(slurmctld)
  command -v slurmd >/dev/null || pkgs+=(slurmd)
  command -v sbatch >/dev/null || pkgs+=(slurm-client)
  command -v munged >/dev/null || pkgs+=(munge)
  if [ "$ACCOUNTING" = 1 ]; then
    command -v slurmdbd >/dev/null || pkgs+=(slurmdbd)
    command -v mariadbd >/dev/null || pkgs+=(mariadb-server)
  fi
  [ ${#pkgs[@]} = 0 ] && return 0
  say "installing ${pkgs[*]}"
  apt-get update -qq
  # --no-install-recommends: slurm-wlm (the metapackage) would pull ~40 packages of optional plugins
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  for p in slurmctld slurmd sbatch munged; do command -v "$p" >/dev/null || die "$p missing after install"; done
}

# --- configuration ---------------------------------------------------------------------------------
write_if_changed() {  # write_if_changed PATH MODE OWNER  (content on stdin); returns 0 if it changed
  local tmp; tmp=$(mktemp)
  cat >"$tmp"
  if [ -f "$1" ] && ! grep -qF "$MARK" "$1"; then
    cp -p "$1" "$1.before-slurm-local"   # keep a file we did not write
  fi
  if [ -f "$1" ] && cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 1; fi
  install -m "$2" -o "${3%:*}" -g "${3#*:}" "$tmp" "$1"; rm -f "$tmp"
  return 0
}

configure() {
  local cpus mem acct changed=0
  # What slurmd itself detects, so the node is never drained for "Low RealMemory" or CPU count.
  cpus=$(slurmd -C | sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' | head -1)
  mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -1)
  if [ -z "$cpus" ] || [ -z "$mem" ]; then die "slurmd -C did not report CPUs/RealMemory"; fi
  install -d -o slurm -g slurm "$STATE/ctld" "$LOGS"
  install -d -o root -g root "$STATE/d"
  if [ "$ACCOUNTING" = 1 ]; then
    acct="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux"
  else
    acct="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
  fi
  if write_if_changed "$CONF_DIR/slurm.conf" 644 root:root <<EOF
$MARK
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
SlurmUser=slurm
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
# No cgroups (container/VM without a delegated cgroup tree): plain process tracking, no binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
# Finished jobs stay visible to squeue this long; the plugin's squeue status needs >= 3 x its
# initial status-check interval (40 s by default).
MinJobAge=300
$acct
JobCompType=jobcomp/none
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
  then changed=1; fi
  if [ "$ACCOUNTING" = 1 ]; then
    # MariaDB reached over its Unix socket as the OS user slurm (see start_mariadb).
    if write_if_changed "$CONF_DIR/slurmdbd.conf" 600 slurm:slurm <<EOF
$MARK
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
PidFile=/run/slurmdbd.pid
LogFile=$LOGS/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
EOF
    then changed=1; fi
  fi
  CONFIG_CHANGED=$changed
}

# --- daemons ---------------------------------------------------------------------------------------
start_munge() {
  if [ ! -s /etc/munge/munge.key ]; then
    # Debian's postinst creates the key; recreate it if something removed it
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  fi
  install -d -o munge -g munge -m 755 /run/munge
  alive /run/munge/munged.pid munged || runuser -u munge -- /usr/sbin/munged
  wait_for "munged" sh -c 'munge -n | unmunge'
}

start_mariadb() {
  # A private data directory below $STATE (never the system's /var/lib/mysql), so that --purge
  # removes the accounting database whole; the socket stays at the client library's default path,
  # which is where slurmdbd (StorageHost=localhost) looks for it.
  install -d -o mysql -g mysql -m 755 /run/mysqld "$STATE/mysql"
  if [ ! -d "$STATE/mysql/mysql" ]; then
    mariadb-install-db --user=mysql --datadir="$STATE/mysql" --auth-root-authentication-method=socket \
      --skip-test-db >"$LOGS/mariadb-install.log" 2>&1 || die "mariadb-install-db failed: $LOGS/mariadb-install.log"
  fi
  if ! alive /run/mysqld/mysqld.pid mariadbd; then
    # mariadbd does not daemonize: run it detached, socket only (no TCP port to collide with)
    setsid /usr/sbin/mariadbd --user=mysql --datadir="$STATE/mysql" --skip-networking \
      --socket=/run/mysqld/mysqld.sock --pid-file=/run/mysqld/mysqld.pid \
      --log-error="$STATE/mysql/mariadb.err" </dev/null >/dev/null 2>&1 &
  fi
  wait_for "MariaDB" mariadb-admin --socket=/run/mysqld/mysqld.sock ping
  # The DB user is the OS user slurm (unix_socket authentication): no password anywhere.
  mariadb --socket=/run/mysqld/mysqld.sock -e "
    CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED VIA unix_socket;
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
}

start() {
  install_packages
  configure
  if [ "$CONFIG_CHANGED" = 1 ]; then   # daemons read the config only at start
    stop_daemon /run/slurmd.pid slurmd; stop_daemon /run/slurmctld.pid slurmctld
    stop_daemon /run/slurmdbd.pid slurmdbd
  fi
  start_munge
  if [ "$ACCOUNTING" = 1 ]; then
    start_mariadb
    alive /run/slurmdbd.pid slurmdbd || /usr/sbin/slurmdbd
    wait_for "slurmdbd" bash -c 'exec 3<>/dev/tcp/127.0.0.1/6819'
  fi
  alive /run/slurmctld.pid slurmctld || /usr/sbin/slurmctld
  wait_for "slurmctld" scontrol ping
  alive /run/slurmd.pid slurmd || /usr/sbin/slurmd
  # A node remembered as down/drained from an earlier run is put back into service.
  case $(sinfo -h -n "$NODE" -o %t 2>/dev/null) in
    *drain*|*down*|*drng*) scontrol update NodeName="$NODE" State=RESUME || true ;;
  esac
  wait_for "node $NODE to be idle" sh -c "sinfo -h -n '$NODE' -o %t | grep -Eq '^(idle|mix|alloc)$'"
  if [ "$ACCOUNTING" = 1 ]; then
    wait_for "cluster $CLUSTER in slurmdbd" sh -c "sacctmgr -n -P list cluster format=cluster | grep -qx '$CLUSTER'"
  fi
  say "up: $(sinfo -h -o '%P %D %t %c CPUs %m MB' | head -1)"
}

stop() {
  stop_daemon /run/slurmd.pid slurmd
  stop_daemon /run/slurmctld.pid slurmctld
  stop_daemon /run/slurmdbd.pid slurmdbd
  stop_daemon /run/mysqld/mysqld.pid mariadbd
  stop_daemon /run/munge/munged.pid munged
  if [ "$PURGE" = 1 ]; then
    rm -rf "$STATE" "$LOGS"
    local f
    for f in "$CONF_DIR/slurm.conf" "$CONF_DIR/slurmdbd.conf"; do
      [ -f "$f" ] && grep -qF "$MARK" "$f" && rm -f "$f"
    done
    say "purged $STATE (with the accounting DB), $LOGS and the config files it wrote"
  fi
}

status() {
  local d pidfile
  for d in munged mariadbd slurmdbd slurmctld slurmd; do
    case $d in munged) pidfile=/run/munge/munged.pid ;; mariadbd) pidfile=/run/mysqld/mysqld.pid ;;
                *) pidfile=/run/$d.pid ;; esac
    if alive "$pidfile" "$d"; then echo "$d: running, pid $(cat "$pidfile")"; else echo "$d: not running"; fi
  done
  sinfo 2>/dev/null || true
  alive /run/slurmctld.pid slurmctld && alive /run/slurmd.pid slurmd
}

# --- main ------------------------------------------------------------------------------------------
cmd=${1:-}; shift || true
ACCOUNTING=0; PURGE=0; CONFIG_CHANGED=0
for a in "$@"; do
  case $a in
    --accounting) ACCOUNTING=1 ;;
    --purge) PURGE=1 ;;
    *) die "unknown option $a" ;;
  esac
done
case $cmd in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start [--accounting] | status | stop [--purge]" >&2; exit 2 ;;
esac
