#!/usr/bin/env bash
# rampart lab: systemd-booting Debian hosts on this machine, each with its own
# address on a private bridge, reached over real SSH. See lab/README.md.
#   lab.sh up N [--fresh] | down [--purge] | inventory [FILE] | status
#   lab.sh kill HOST | start HOST | cut HOST | heal HOST | ssh HOST CMD...
# Traffic goes only to the bridge's own 198.18.0.0/24 (no NAT, no forwarding).
set -euo pipefail

LAB_DIR=${RAMPART_LAB_DIR:-/var/lib/rampart-lab}
CACHE=${RAMPART_LAB_CACHE:-/var/cache/rampart-lab}
BRIDGE=rampart0
NET=198.18.0
GW=$NET.1
BASE=$CACHE/base
KEY=$LAB_DIR/id_ed25519
KH=$LAB_DIR/known_hosts
SUITE=bookworm

say() { echo "lab: $*" >&2; }
die() { echo "rampart lab: $*" >&2; exit 2; }

need() {
  [ "$(uname -s)" = Linux ] || die "the lab runs on Linux only"
  [ "$(id -u)" = 0 ] || die "the lab needs root (it makes network namespaces, mounts and containers): run it with sudo"
  local t missing=
  for t in debootstrap systemd-nspawn ip ssh ssh-keygen ssh-keyscan mount; do command -v "$t" >/dev/null 2>&1 || missing="$missing $t"; done
  [ -x /usr/sbin/apt-cacher-ng ] || missing="$missing apt-cacher-ng"
  [ -z "$missing" ] || die "missing:$missing. Install them: apt-get install debootstrap systemd-container iproute2 apt-cacher-ng openssh-client"
}

mirror() {
  local m=
  [ -f /etc/apt/sources.list.d/debian.sources ] && m=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  [ -n "$m" ] || m=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$m" ] || die "cannot find this machine's Debian mirror in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
  echo "${m%/}"
}

idx() { local h=$1; [[ $h =~ ^lab([0-9]+)$ ]] || die "unknown lab host '$h' (lab1, lab2, ...)"; echo "${BASH_REMATCH[1]}"; }
addr() { echo "$NET.$((10 + $1))"; }
hdir() { echo "$LAB_DIR/hosts/lab$1"; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
hpid() { cat "$(hdir "$1")/pid" 2>/dev/null || true; }

build_base() {
  [ -f "$BASE/.rampart-base-ok" ] && return 0
  local m tmp; m=$(mirror)
  mkdir -p "$CACHE"
  rm -rf "$CACHE"/base.tmp.*
  tmp=$CACHE/base.tmp.$$
  say "building the Debian $SUITE base image from $m (once; about 75 s)"
  debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,openssh-server,iproute2,python3,sudo,ca-certificates,procps,curl,psmisc \
    "$SUITE" "$tmp" "$m" >"$CACHE/debootstrap.log" 2>&1 || { tail -20 "$CACHE/debootstrap.log" >&2; rm -rf "$tmp"; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
  rm -f "$tmp"/etc/ssh/ssh_host_* "$tmp/etc/machine-id" "$tmp/var/lib/dbus/machine-id"
  printf 'deb %s %s main\ndeb %s %s-updates main\n' "$m" "$SUITE" "$m" "$SUITE" > "$tmp/etc/apt/sources.list"
  rm -f "$tmp/etc/apt/sources.list.d/"*
  printf 'Acquire::http::Proxy "http://%s:3142";\n' "$GW" > "$tmp/etc/apt/apt.conf.d/01rampart-lab-proxy"
  chroot "$tmp" apt-get clean >/dev/null 2>&1 || true
  touch "$tmp/.rampart-base-ok"
  rm -rf "$BASE"
  mv "$tmp" "$BASE"
}

net_up() {
  sysctl -qw fs.inotify.max_user_instances=1024 || true
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  ip addr show dev "$BRIDGE" | grep -q "inet $GW/24" || ip addr add "$GW/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

cacher_up() {
  local m pidf=$LAB_DIR/apt-cacher-ng.pid
  if alive "$(cat "$pidf" 2>/dev/null || true)"; then return 0; fi
  if (exec 3<>"/dev/tcp/$GW/3142") 2>/dev/null; then return 0; fi
  m=$(mirror)
  mkdir -p /etc/apt-cacher-ng "$LAB_DIR/acng"
  echo "$m/" > /etc/apt-cacher-ng/backends_debian
  chown apt-cacher-ng: "$LAB_DIR/acng" 2>/dev/null || true
  /usr/sbin/apt-cacher-ng -c /etc/apt-cacher-ng "BindAddress=$GW" Port=3142 ForeGround=1 \
    "PidFile=$pidf" "LogDir=$LAB_DIR/acng" >"$LAB_DIR/acng/stdout.log" 2>&1 &
  echo $! > "$pidf"
  local i
  for i in $(seq 1 50); do (exec 3<>"/dev/tcp/$GW/3142") 2>/dev/null && return 0; sleep 0.2; done
  die "apt-cacher-ng did not start on $GW:3142 (see $LAB_DIR/acng)"
}

host_net() {
  local k=$1 ns=rampart-lab$1 veth=rlab$1
  ip netns list | grep -qw "$ns" || ip netns add "$ns"
  if ! ip link show "$veth" >/dev/null 2>&1; then
    ip link add "$veth" type veth peer name "rlab${k}p"
    ip link set "rlab${k}p" netns "$ns"
    ip -n "$ns" link set "rlab${k}p" name eth0
  fi
  ip link set "$veth" master "$BRIDGE" up
  ip -n "$ns" addr show dev eth0 | grep -q "inet $(addr "$k")/24" || ip -n "$ns" addr add "$(addr "$k")/24" dev eth0
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route replace default via "$GW"
  # containers see /proc/sys read-only: set per-namespace sysctls the roles expect here
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_nonlocal_bind=1 2>/dev/null || true
}

host_root() {
  local k=$1 h; h=$(hdir "$k")
  mkdir -p "$h/upper" "$h/work" "$h/root"
  mountpoint -q "$h/root" || mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$h/upper,workdir=$h/work" "$h/root"
  local r=$h/root
  echo "lab$k" > "$r/etc/hostname"
  { echo "127.0.0.1 localhost"; echo "$(addr "$k") lab$k"; local j; for j in $(seq 1 "${LAB_N:-$k}"); do [ "$j" = "$k" ] || echo "$(addr "$j") lab$j"; done; } > "$r/etc/hosts"
  mkdir -p "$r/root/.ssh"; chmod 700 "$r/root/.ssh"
  cp "$KEY.pub" "$r/root/.ssh/authorized_keys"; chmod 600 "$r/root/.ssh/authorized_keys"
  [ -s "$r/etc/machine-id" ] || systemd-machine-id-setup --root="$r" >/dev/null 2>&1 || od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$r/etc/machine-id"
  ls "$r"/etc/ssh/ssh_host_ed25519_key >/dev/null 2>&1 || chroot "$r" ssh-keygen -A >/dev/null
}

boot() {
  local k=$1 h; h=$(hdir "$k")
  # CAP_NET_ADMIN inside the host's own network namespace: keepalived moves the VIP
  setsid systemd-nspawn -D "$h/root" --register=no --keep-unit -M "lab$k" -b --capability=CAP_NET_ADMIN \
    --network-namespace-path="/run/netns/rampart-lab$k" --console=passive \
    >"$h/console.log" 2>&1 </dev/null &
  echo $! > "$h/pid"
}

# waits until sshd answers, records the key, and systemd is up
wait_host() {
  local k=$1 a; a=$(addr "$k")
  local end=$((SECONDS + 120)) key=
  while [ $SECONDS -lt $end ]; do
    key=$(ssh-keyscan -T 2 -t ed25519 "$a" 2>/dev/null | grep -v '^#' || true)
    [ -n "$key" ] && break
    alive "$(hpid "$k")" || { tail -5 "$(hdir "$k")/console.log" >&2; die "lab$k stopped while booting (console: $(hdir "$k")/console.log)"; }
    sleep 0.5
  done
  [ -n "$key" ] || die "lab$k: no SSH on $a after 120 s (console: $(hdir "$k")/console.log)"
  ( flock 9
    touch "$KH"; grep -v "^$a " "$KH" > "$KH.tmp" || true; echo "$key" >> "$KH.tmp"; mv "$KH.tmp" "$KH"
  ) 9>"$LAB_DIR/.kh.lock"
  local st
  st=$(lssh "lab$k" 'timeout 120 systemctl is-system-running --wait' 2>/dev/null || true)
  case "$st" in running|degraded) ;; *) die "lab$k: systemd is '$st' after boot" ;; esac
}

lssh() {
  local k; k=$(idx "$1"); shift
  ssh -i "$KEY" -o UserKnownHostsFile="$KH" -o StrictHostKeyChecking=yes -o BatchMode=yes \
      -o ConnectTimeout=5 -o LogLevel=ERROR "root@$(addr "$k")" "$@"
}

stop_host() {
  local k=$1 pid i; pid=$(hpid "$k")
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 60); do alive "$pid" || break; sleep 0.25; done
    if alive "$pid"; then
      local c; for c in $(ps -o pid= --ppid "$pid" 2>/dev/null); do kill -KILL "$c" 2>/dev/null || true; done
      kill -KILL "$pid" 2>/dev/null || true
      for i in $(seq 1 40); do alive "$pid" || break; sleep 0.25; done
    fi
  fi
  rm -f "$(hdir "$k")/pid"
}

remove_host() {
  local k=$1 h; h=$(hdir "$k")
  stop_host "$k"
  mountpoint -q "$h/root" 2>/dev/null && umount -l "$h/root" || true
  ip link del "rlab$k" 2>/dev/null || true
  ip netns del "rampart-lab$k" 2>/dev/null || true
  rm -rf "$h"
  [ -f "$KH" ] && { grep -v "^$(addr "$k") " "$KH" > "$KH.tmp" || true; mv "$KH.tmp" "$KH"; }
  return 0
}

existing() { ls -d "$LAB_DIR"/hosts/lab* 2>/dev/null | sed 's/.*lab//' | sort -n; }

cmd_up() {
  local n=${1:-3} fresh=${2:-}
  [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] || die "up takes a host count from 1 to 200"
  need
  local t0=$SECONDS
  mkdir -p "$LAB_DIR/hosts"; chmod 700 "$LAB_DIR"
  [ -f "$KEY" ] || ssh-keygen -q -t ed25519 -N '' -C rampart-lab -f "$KEY"
  build_base
  net_up
  cacher_up
  export LAB_N=$n
  local k todo=()
  for k in $(seq 1 "$n"); do
    if [ "$fresh" = "--fresh" ]; then remove_host "$k"; fi
    if alive "$(hpid "$k")" && lssh "lab$k" true 2>/dev/null; then continue; fi
    remove_host "$k"
    todo+=("$k")
  done
  for k in "${todo[@]}"; do host_net "$k"; host_root "$k"; boot "$k"; done
  local pids=() fail=0
  for k in "${todo[@]}"; do wait_host "$k" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || fail=1; done
  [ $fail = 0 ] || die "some hosts did not come up"
  say "$n hosts up (${#todo[@]} booted) in $((SECONDS - t0)) s: $(for k in $(seq 1 "$n"); do printf 'lab%s=%s ' "$k" "$(addr "$k")"; done)"
}

cmd_down() {
  local k
  for k in $(existing); do remove_host "$k"; done
  local pidf=$LAB_DIR/apt-cacher-ng.pid p
  p=$(cat "$pidf" 2>/dev/null || true)
  if alive "$p"; then kill -TERM "$p" 2>/dev/null || true; fi
  rm -f "$pidf"
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -rf "$LAB_DIR/hosts" "$LAB_DIR/acng" "$KH" "$LAB_DIR/.kh.lock"
  [ "${1:-}" = "--purge" ] && rm -rf "$CACHE" "$LAB_DIR"
  say "down"
}

cmd_inventory() {
  local out=${1:-} ks; ks=$(existing)
  [ -n "$ks" ] || die "no lab hosts: run 'rampart lab up 3' first"
  local zones=(a b c) k all=() edge=()
  for k in $ks; do all+=("\"lab$k\""); done
  edge=("${all[@]:0:2}")
  {
    echo "# written by \`rampart lab inventory\`"
    echo "[defaults]"
    echo "user = \"root\""
    echo "port = 22"
    echo "identity = \"$KEY\""
    echo "known_hosts = \"$KH\""
    echo "host_key_policy = \"strict\""
    for k in $ks; do printf '\n[hosts.lab%s]\naddress = "%s"\nzone = "%s"\n' "$k" "$(addr "$k")" "${zones[$(((k - 1) % 3))]}"; done
    echo
    echo "[groups]"
    local IFS=,
    echo "data = [${all[*]}]"
    echo "app = [${all[*]}]"
    echo "edge = [${edge[*]}]"
  } > "${out:-/dev/stdout}"
}

cmd_status() {
  local k
  for k in $(existing); do
    local p; p=$(hpid "$k")
    if alive "$p"; then echo "lab$k $(addr "$k") pid=$p running"; else echo "lab$k $(addr "$k") stopped"; fi
  done
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) shift; need; cmd_down "$@" ;;
  inventory) shift; cmd_inventory "$@" ;;
  status) cmd_status ;;
  kill)
    need; k=$(idx "${2:?host}"); pid=$(hpid "$k")
    ip link set "rlab$k" down 2>/dev/null || true
    if alive "$pid"; then
      for c in $(ps -o pid= --ppid "$pid"); do kill -KILL "$c" 2>/dev/null || true; done
      for i in $(seq 1 80); do alive "$pid" || break; sleep 0.25; done
      alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$(hdir "$k")/pid"; say "lab$k powered off" ;;
  start)
    need; k=$(idx "${2:?host}")
    alive "$(hpid "$k")" && { say "lab$k already running"; exit 0; }
    net_up; host_net "$k"; host_root "$k"; boot "$k"; wait_host "$k"; say "lab$k started" ;;
  cut) need; k=$(idx "${2:?host}"); ip link set "rlab$k" down; say "lab$k network cut" ;;
  heal) need; k=$(idx "${2:?host}"); ip link set "rlab$k" up; say "lab$k network restored" ;;
  ssh) shift; h=${1:?host}; shift; lssh "$h" "$@" ;;
  *) echo "usage: lab.sh up N [--fresh] | down [--purge] | inventory [FILE] | status | kill H | start H | cut H | heal H | ssh H CMD..." >&2; exit 2 ;;
esac
