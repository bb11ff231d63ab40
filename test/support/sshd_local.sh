#!/usr/bin/env bash
# sshd_local.sh - run a throw-away OpenSSH server on 127.0.0.1 for e2e tests.
#
#   sshd_local.sh start DIR   generate keys + config in DIR, start sshd on a
#                             free port, wait until a real `ssh ... true`
#                             works, then print (stdout, one per line):
#                               SSHD_PORT=<port>
#                               SSHD_KEY=DIR/id_ed25519
#                               SSHD_USER=<login name>
#                               SSHD_KNOWN_HOSTS=DIR/known_hosts
#                               SSHD_HOST=127.0.0.1
#                               SSHD_SSH_CONFIG=DIR/ssh_config
#                             and exit 0.
#   sshd_local.sh stop DIR    stop that sshd and every session process it
#                             started; leaves nothing running.
#
# Exit status: 0 ok; 77 (the ctest/automake "skip" code) with a one-line
# reason on stderr when sshd/ssh are missing or cannot run here; anything
# else is a real failure, reported with the tail of DIR/sshd.log.
#
# Why it is written the way it is:
#  * sshd runs in the foreground (-D) as a background job of this script,
#    not daemonized: a daemonizing sshd forks and its parent exits 0 BEFORE
#    binding the port, so a bind failure would be invisible. With -D we
#    keep its pid and notice at once when it dies (e.g. port race).
#  * All paths are absolute: sshd re-executes itself per connection and
#    refuses relative paths, and chdir()s to / anyway.
#  * The known_hosts file is pre-filled with the host key, so clients can
#    use StrictHostKeyChecking=yes and ssh prints no "Permanently added"
#    warning on stderr (which a launcher reading ssh's stderr would see).
#  * Every session process gets PROCMOD_SSHD_LOCAL=<DIR> in its
#    environment (sshd_config SetEnv), so `stop` can find remote commands
#    even after they have been re-parented away from sshd.
#
# Remote commands and disconnects (measured on Debian 12, OpenSSH 9.2p1):
# without a tty, sshd does NOT signal the remote command when the client
# dies or closes; the command is re-parented to init and runs on. What
# works is a remote wrapper that watches the channel's stdin, with the
# local ssh's stdin kept open as a pipe (ssh -T, never -n or </dev/null):
#   exec 3<&0; "$@" 0</dev/null 3<&- & pid=$!
#   ( cat >/dev/null; kill -TERM "$pid"; ...; kill -KILL "$pid" ) 0<&3 3<&- >/dev/null 2>&1 &
#   exec 3<&- 0</dev/null; wait "$pid"
# The remote command is gone 5-15 ms after the local ssh gets SIGTERM or
# SIGKILL or its stdin pipe is closed. `ssh -tt` (SIGHUP via the pty) takes
# 1-2 s, adds \r to output, and does nothing when stdin is closed.
#
# Environment knobs:
#   SSHD_LOCAL_TIMEOUT  seconds to wait for sshd to accept logins (default 20)
#   SSHD_BIN / SSH_BIN / SSH_KEYGEN_BIN  override the programs used.

set -u

SSHD_BIN=${SSHD_BIN:-/usr/sbin/sshd}   # absolute: sshd insists on it (re-exec)
SSH_BIN=${SSH_BIN:-ssh}
SSH_KEYGEN_BIN=${SSH_KEYGEN_BIN:-ssh-keygen}
TIMEOUT=${SSHD_LOCAL_TIMEOUT:-20}

die()  { echo "sshd_local.sh: $*" >&2; exit 1; }
skip() { echo "sshd_local.sh: skip: $*" >&2; exit 77; }

usage() {
    echo "usage: $0 start DIR | stop DIR" >&2
    exit 2
}

# Print the last lines of the sshd log (for failure reports).
log_tail() {
    if [ -s "$DIR/sshd.log" ]; then
        echo "---- tail of $DIR/sshd.log ----" >&2
        tail -n 20 "$DIR/sshd.log" >&2
    fi
}

# now_ms: wall clock in milliseconds (GNU date; Debian has it).
now_ms() { date +%s%3N; }

# A port nobody listens on right now. Prefer the kernel's choice (bind port 0)
# via python3 when available; otherwise a random high port not listed as
# LISTEN in /proc/net/tcp. Either way there is a race until sshd binds; the
# caller retries with another port if sshd reports "Address already in use".
pick_port() {
    local p
    if command -v python3 >/dev/null 2>&1; then
        p=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null)
        if [ -n "$p" ]; then echo "$p"; return; fi
    fi
    local hex
    for _ in $(seq 1 50); do
        p=$(( 20000 + RANDOM % 40000 ))
        hex=$(printf '%04X' "$p")
        # field 2 is local addr:port in hex, field 4 state 0A = LISTEN
        if ! awk -v h=":$hex" 'NR > 1 && substr($2, length($2) - 4) == h && $4 == "0A" { f = 1 } END { exit !f }' \
                /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
            echo "$p"; return
        fi
    done
    echo 0
}

# All descendants of pid $1 (children, grandchildren, ...), from /proc.
# Pure bash (no fork per process): stop must stay cheap on a busy 2-core box.
descendants() {
    local root=$1 stat line ppid
    local -A kids=()
    for stat in /proc/[0-9]*/stat; do
        read -r line 2>/dev/null <"$stat" || continue
        # "pid (comm) state ppid ...": comm may contain spaces or ')', so
        # cut up to the LAST ') ' before splitting.
        set -- ${line##*) }
        ppid=$2
        kids[$ppid]+="${line%% *} "
    done
    local queue=("$root") out=() p c
    while [ ${#queue[@]} -gt 0 ]; do
        p=${queue[0]}; queue=("${queue[@]:1}")
        for c in ${kids[$p]:-}; do
            out+=("$c"); queue+=("$c")
        done
    done
    echo "${out[@]:-}"
}

# Processes carrying our SetEnv marker (remote commands and their children,
# even once re-parented to init). One grep over all environ files; -z
# because environ entries are NUL-separated, -s for vanished/foreign pids.
marked_processes() {
    grep -lszxF "PROCMOD_SSHD_LOCAL=$DIR" /proc/[0-9]*/environ |
        sed -n 's|^/proc/\([0-9]*\)/environ$|\1|p'
}

# Is pid $1 the sshd we started from DIR (and not a recycled pid)?
is_our_sshd() {
    [ -r "/proc/$1/cmdline" ] &&
        tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -qF -- "-f $DIR/sshd_config"
}

# The client command line used for the readiness probe (and documented as
# the way tests should call ssh). -F points at our own client config, so
# the user's ~/.ssh/config and /etc/ssh/ssh_config cannot interfere.
ssh_probe() {
    "$SSH_BIN" -F "$DIR/ssh_config" -o ConnectTimeout=3 127.0.0.1 true \
        </dev/null >/dev/null 2>>"$DIR/probe.log"
}

cmd_start() {
    local t0; t0=$(now_ms)

    # --- can we run at all? (exit 77 = tests skip) ----------------------
    [ -x "$SSHD_BIN" ] || skip "$SSHD_BIN not installed (apt-get install openssh-server)"
    command -v "$SSH_BIN" >/dev/null 2>&1 || skip "ssh client not installed (apt-get install openssh-client)"
    command -v "$SSH_KEYGEN_BIN" >/dev/null 2>&1 || skip "ssh-keygen not installed (apt-get install openssh-client)"

    local user; user=$(id -un 2>/dev/null) || skip "current uid $(id -u) has no user name"
    # sshd runs remote commands through the login shell.
    case $(getent passwd "$user" | cut -d: -f7) in
        */nologin|*/false) skip "user '$user' has no login shell" ;;
    esac

    # As root, sshd uses /run/sshd as its privilege-separation chroot and
    # refuses to start without it. /run is a fresh tmpfs in containers and
    # the package's tmpfiles/systemd unit never ran, so create it.
    if [ "$(id -u)" = 0 ] && [ ! -d /run/sshd ]; then
        mkdir -m 0755 /run/sshd || skip "cannot create /run/sshd"
    fi
    if [ "$(id -u)" = 0 ] && ! getent passwd sshd >/dev/null; then
        skip "privilege separation user 'sshd' missing (broken openssh-server install)"
    fi

    # A second 'start' on the same DIR must not orphan the first sshd
    # (its pid file is about to be overwritten).
    stop_all
    rm -f "$DIR"/ssh_host_ed25519_key* "$DIR"/id_ed25519* "$DIR"/sshd.pid \
          "$DIR"/sshd.log "$DIR"/probe.log

    # --- keys -----------------------------------------------------------
    # ed25519: generating takes milliseconds (RSA would take ~1 s).
    "$SSH_KEYGEN_BIN" -q -t ed25519 -N '' -C procmod-test-host \
        -f "$DIR/ssh_host_ed25519_key" </dev/null || die "ssh-keygen (host key) failed"
    "$SSH_KEYGEN_BIN" -q -t ed25519 -N '' -C procmod-test-client \
        -f "$DIR/id_ed25519" </dev/null || die "ssh-keygen (client key) failed"
    cp "$DIR/id_ed25519.pub" "$DIR/authorized_keys"

    local port pid
    for _ in 1 2 3 4 5; do
        port=$(pick_port)
        [ "$port" != 0 ] || die "no free port found"

        # --- server config ----------------------------------------------
        cat >"$DIR/sshd_config" <<EOF
# Generated by test/support/sshd_local.sh - throw-away test server.
ListenAddress 127.0.0.1
Port $port
HostKey $DIR/ssh_host_ed25519_key
PidFile $DIR/sshd.pid
AuthorizedKeysFile $DIR/authorized_keys
AllowUsers $user
# CI runs as root; key-only root login is enough.
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
# No PAM: keeps the test independent of /etc/pam.d (Debian's sshd stack
# has pam_loginuid "required", a known failure in some containers).
# Consequence: an account with a locked password ("!" in /etc/shadow) is
# refused even for key login - see the hint in the failure message.
UsePAM no
# The temp dir may be group/world writable (e.g. under /tmp).
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
LogLevel VERBOSE
# Tag every session process so 'stop' can find leftovers.
SetEnv PROCMOD_SSHD_LOCAL=$DIR
EOF

        # --- client config (what tests should pass to ssh -F) -----------
        cat >"$DIR/ssh_config" <<EOF
# Generated by test/support/sshd_local.sh
Host *
  Port $port
  User $user
  IdentityFile $DIR/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $DIR/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  LogLevel ERROR
EOF
        # Pre-trusted host key -> no TOFU prompt/warning.
        echo "[127.0.0.1]:$port $(cat "$DIR/ssh_host_ed25519_key.pub")" >"$DIR/known_hosts"

        # Fail fast on a bad config with sshd's own message (-t = test).
        if ! "$SSHD_BIN" -t -f "$DIR/sshd_config" 2>"$DIR/sshd.log"; then
            if grep -qiE 'privilege separation|Permission denied' "$DIR/sshd.log"; then
                skip "sshd cannot run here: $(head -n 1 "$DIR/sshd.log")"
            fi
            log_tail; die "sshd -t rejected $DIR/sshd_config"
        fi

        # --- run it -----------------------------------------------------
        # -D: stay in foreground (see header); -E: log to file, not syslog.
        # All std fds go to /dev/null so a test reading our stdout through
        # a pipe sees EOF when this script exits, not when sshd does.
        "$SSHD_BIN" -D -f "$DIR/sshd_config" -E "$DIR/sshd.log" \
            </dev/null >/dev/null 2>&1 &
        pid=$!

        # --- wait until a real login works ------------------------------
        local deadline=$(( $(now_ms) + TIMEOUT * 1000 )) ok=0
        while [ "$(now_ms)" -lt "$deadline" ]; do
            if ! kill -0 "$pid" 2>/dev/null; then
                break               # sshd died; reason is in the log
            fi
            # sshd up but refusing this user: retrying cannot help.
            if grep -qE 'account is locked|not allowed because' "$DIR/sshd.log" 2>/dev/null; then
                break
            fi
            # Only probe once sshd says it is listening: saves failed
            # connects (each costs a fork+exec of ssh).
            if grep -q "Server listening on 127.0.0.1 port $port" "$DIR/sshd.log" 2>/dev/null &&
               ssh_probe; then
                ok=1; break
            fi
            sleep 0.05
        done
        if [ "$ok" = 1 ]; then
            break
        fi

        # Failure: stop what we started before deciding what to report.
        kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
        if grep -q 'Address already in use' "$DIR/sshd.log"; then
            echo "sshd_local.sh: port $port taken meanwhile, retrying" >&2
            continue                # lost the port race; try another port
        fi
        if grep -qE 'account is locked|not allowed because' "$DIR/sshd.log"; then
            skip "sshd refuses login for '$user': $(grep -E 'account is locked|not allowed because' "$DIR/sshd.log" | tail -n 1 | sed 's/^.*sshd\[[0-9]*\]: //') (UsePAM no needs an unlocked account: e.g. 'usermod -p \"*\" $user')"
        fi
        log_tail
        if [ -s "$DIR/probe.log" ]; then
            echo "---- last ssh probe error ----" >&2
            tail -n 5 "$DIR/probe.log" >&2
        fi
        die "sshd did not accept a login within ${TIMEOUT}s (port $port)"
    done
    [ "${ok:-0}" = 1 ] || { log_tail; die "could not bind a port after 5 attempts"; }

    # sshd writes PidFile after binding; fill it in ourselves if it has not
    # yet (it always should have, since a login already succeeded).
    [ -s "$DIR/sshd.pid" ] || echo "$pid" >"$DIR/sshd.pid"

    echo "SSHD_PORT=$port"
    echo "SSHD_KEY=$DIR/id_ed25519"
    echo "SSHD_USER=$user"
    echo "SSHD_KNOWN_HOSTS=$DIR/known_hosts"
    echo "SSHD_HOST=127.0.0.1"
    echo "SSHD_SSH_CONFIG=$DIR/ssh_config"
    echo "sshd_local.sh: started in $(( $(now_ms) - t0 )) ms (pid $pid)" >&2
    exit 0
}

# Kill the sshd started from DIR and all its session processes.
stop_all() {
    local pid="" victims="" p
    [ -s "$DIR/sshd.pid" ] && pid=$(cat "$DIR/sshd.pid")

    # Collect everything BEFORE killing the listener: per-connection sshd
    # processes call setsid() and are re-parented to init once the listener
    # dies, and sshd deliberately leaves running sessions alone on SIGTERM.
    if [ -n "$pid" ] && is_our_sshd "$pid"; then
        victims="$pid $(descendants "$pid")"
    fi
    victims="$victims $(marked_processes)"
    # de-duplicate, drop ourselves
    victims=$(echo "$victims" | tr ' ' '\n' | grep -E '^[0-9]+$' | grep -vx "$$" | sort -un | tr '\n' ' ')

    if [ -n "${victims// /}" ]; then
        kill -TERM $victims 2>/dev/null
        # Up to 5 s for a clean exit, then SIGKILL whatever is left.
        local deadline=$(( $(now_ms) + 5000 )) alive
        while :; do
            alive=""
            for p in $victims; do
                # zombies count as gone (their parent will reap them)
                if [ -r "/proc/$p/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$p/stat" 2>/dev/null; then
                    alive="$alive $p"
                fi
            done
            [ -z "$alive" ] && break
            if [ "$(now_ms)" -ge "$deadline" ]; then
                echo "sshd_local.sh: SIGKILL after 5 s:$alive" >&2
                kill -KILL $alive 2>/dev/null
                sleep 0.1
                break
            fi
            sleep 0.05
        done
    fi
    rm -f "$DIR/sshd.pid"
}

cmd_stop() {
    stop_all
    exit 0
}

[ $# -eq 2 ] || usage
case "$2" in
    *[[:space:]\"\'\\]*) die "DIR must not contain whitespace, quotes or backslashes: '$2'" ;;
esac
# Absolute path: sshd needs absolute paths in its config (see header).
if [ "$1" = stop ] && [ ! -d "$2" ]; then
    exit 0                          # nothing was started there
fi
DIR=$(mkdir -p "$2" && cd "$2" && pwd -P) || die "cannot use directory '$2'"

case "$1" in
    start) cmd_start ;;
    stop)  cmd_stop ;;
    *)     usage ;;
esac
