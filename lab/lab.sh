#!/usr/bin/env bash
# rampart lab: systemd-booting Debian hosts on this machine, each with its own
# address on a private bridge, reached over real SSH. See lab/README.md.
#   lab.sh up N [--fresh] [--debian 13|12] [--docker] | down [--purge] | inventory [FILE] | status
#   lab.sh kill HOST | start HOST | cut HOST | heal HOST | ssh HOST CMD... | image NAME:TAG [--unhealthy]
# Traffic goes only to the bridge's own 198.18.0.0/24 (no NAT, no forwarding).
set -euo pipefail
export PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin

LAB_DIR=${RAMPART_LAB_DIR:-/var/lib/rampart-lab}
CACHE=${RAMPART_LAB_CACHE:-/var/cache/rampart-lab}
TIMEOUT=${RAMPART_LAB_TIMEOUT:-90}     # seconds for one host to boot (hosts boot in parallel)
PROG=${RAMPART_LAB_PROG:-lab.sh}       # how the user called us, for messages
BRIDGE=rampart0
NET=198.18.0
GW=$NET.1
HOSTS=$LAB_DIR/hosts
KEY=$LAB_DIR/id_ed25519
KH=$LAB_DIR/known_hosts
ACNG=$LAB_DIR/acng
# the lab's apt cacher: a port of its own, so that a machine's own apt-cacher-ng
# (Debian starts one on 3142 when it is installed) never answers in its place
ACNG_PORT=3143
# the lab's image registry (Debian's docker-registry, auth off), started by `up --docker`
REG=$LAB_DIR/registry
REG_ADDR=$GW:5000
# a second registry on the same storage that asks for a login (user rampart, password
# lab-registry-pass), for tests of registry credentials; started and stopped with the first
REG_AUTH_ADDR=$GW:5001
# Debian releases the lab makes hosts of (13 is the default), one cached base image each
DEFAULT_DEBIAN=${RAMPART_LAB_DEBIAN:-13}
suite_of() { case "$1" in 13) echo trixie ;; 12) echo bookworm ;; *) refuse "--debian takes 13 (trixie) or 12 (bookworm), not '$1'" ;; esac; }
release_of_suite() { case "$1" in trixie) echo 13 ;; bookworm) echo 12 ;; *) echo "?" ;; esac; }
base_of() { echo "$CACHE/base-$1"; }
# LAB.md's package set, plus psmisc: the keepalived role checks haproxy with killall
PACKAGES=systemd,systemd-sysv,dbus,openssh-server,iproute2,python3,sudo,ca-certificates,procps,curl,psmisc

say() { echo "lab: $*" >&2; }
die() { echo "lab: error: $*" >&2; exit 1; }
refuse() { echo "rampart lab: $*" >&2; exit 2; }

usage() {
  cat >&2 <<EOF
usage: $PROG up N [--fresh] [--debian 13|12] [--docker]
                                start hosts lab1..labN on Debian 13 (default) or 12
                                (idempotent; --fresh: clean hosts; --docker: hosts that
                                can run Docker, and the image registry on $GW:5000)
       $PROG down [--purge]     remove every host, the bridge and the cacher (--purge: the base images too)
       $PROG inventory [FILE]   rampart inventory of the lab hosts (stdout or FILE)
       $PROG status             one line per host
       $PROG kill HOST          hard power-off (link down, kill -9 of its init)
       $PROG start HOST         boot a stopped host again, same disk
       $PROG cut HOST | heal HOST   take the host's link down / up
       $PROG ssh HOST CMD...    run a command on a host
       $PROG image NAME:TAG [--unhealthy]
                                build a stand-in app image and push it as $GW:5000/NAME:TAG
EOF
  exit 2
}

# The Debian packages that give the commands the lab uses.
LAB_DEBS="debootstrap systemd-container iproute2 apt-cacher-ng openssh-client util-linux"

# $1 = install: missing tools are installed with apt-get (root on Debian), saying so in one line
need() {
  [ "$(uname -s)" = Linux ] || refuse "the lab runs on Linux only"
  [ "$(id -u)" = 0 ] || refuse "the lab needs root (network namespaces, mounts, containers): run it as root or with sudo"
  local t p missing=
  for t in debootstrap systemd-nspawn ip ssh ssh-keygen ssh-keyscan chroot mount umount mountpoint setsid flock timeout sysctl; do
    p=$(command -v "$t" 2>/dev/null) && [ -x "$p" ] || missing="$missing $t"   # (command -v also names a file that cannot run)
  done
  [ -x /usr/sbin/apt-cacher-ng ] || missing="$missing apt-cacher-ng"
  if [ -n "$missing" ] && [ "${1:-}" = install ] && command -v apt-get >/dev/null 2>&1 && [ -f /etc/debian_version ]; then
    say "installing what the lab needs (missing:$missing): apt-get install $LAB_DEBS"
    local log=/var/log/rampart-lab-apt.log
    if ! { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $LAB_DEBS >"$log" 2>&1 9>&- \
           || { DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$log" 2>&1 9>&- && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $LAB_DEBS >>"$log" 2>&1 9>&-; }; }; then
      tail -5 "$log" >&2
      refuse "apt-get could not install $LAB_DEBS (log: $log)"
    fi
    missing=
  fi
  [ -z "$missing" ] || refuse "missing:$missing. Install them: apt-get install $LAB_DEBS"
  case "$LAB_DIR" in /?*) ;; *) refuse "RAMPART_LAB_DIR must be an absolute path" ;; esac
  case "$CACHE" in /?*) ;; *) refuse "RAMPART_LAB_CACHE must be an absolute path" ;; esac
  [ "$LAB_DIR" != / ] && [ "$CACHE" != / ] || refuse "RAMPART_LAB_DIR and RAMPART_LAB_CACHE cannot be /"
}

# one mutating command at a time; fd 9 is closed in everything left running
lock() {
  mkdir -p "$LAB_DIR"; chmod 700 "$LAB_DIR"
  exec 9>"$LAB_DIR/.lock"
  flock -w 900 9 || die "another lab command has held $LAB_DIR/.lock for 15 minutes"
}

mirror() {
  local m=
  [ -f /etc/apt/sources.list.d/debian.sources ] && m=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  [ -n "$m" ] || m=$(awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) {print $i; exit}}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$m" ] || die "cannot find this machine's Debian mirror in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
  echo "${m%/}"
}

idx() { [[ ${1:-} =~ ^lab([1-9][0-9]*)$ ]] || refuse "unknown lab host '${1:-}' (lab1, lab2, ...)"; echo "${BASH_REMATCH[1]}"; }
addr() { echo "$NET.$((10 + $1))"; }
hdir() { echo "$HOSTS/lab$1"; }
# the Debian suite host $1 was made of (hosts from before releases were recorded: bookworm)
host_suite() { local s; s=$(cat "$(hdir "$1")/suite" 2>/dev/null || true); echo "${s:-bookworm}"; }
existing() { local d; for d in "$HOSTS"/lab*; do [[ -d $d && ${d##*/} =~ ^lab[0-9]+$ ]] || continue; echo "${d##*/lab}"; done | sort -n; }

# $1 is a live process whose command line contains $2 (a kept PID may have been reused)
pid_is() {
  [[ ${1:-} =~ ^[0-9]+$ ]] && [ -r "/proc/$1/cmdline" ] || return 1
  local c; c=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  [[ $c == *"$2"* ]]
}
# the kept nspawn PID of host $1, if that process still runs
nspawn_pid() {
  local p; p=$(cat "$(hdir "$1")/pid" 2>/dev/null || true)
  pid_is "$p" "systemd-nspawn -D $(hdir "$1")/root" && echo "$p" || true
}
# the container's init (PID 1 inside): the nspawn's child, or the kept one if it is still in the host's netns
init_pids() {
  local k=$1 np p; np=$(nspawn_pid "$k")
  [ -z "$np" ] || ps -o pid= --ppid "$np" 2>/dev/null | tr -d ' '
  p=$(cat "$(hdir "$k")/init.pid" 2>/dev/null || true)
  if [[ $p =~ ^[0-9]+$ ]] && [ -d "/proc/$p" ] && [ "$(ip netns identify "$p" 2>/dev/null)" = "rampart-lab$k" ]; then echo "$p"; fi
}
running() { [ -n "$(nspawn_pid "$1")" ]; }

# unmounts everything at or under $1, deepest first
umount_under() {
  local m
  for m in $(awk -v d="$1" '$2 == d || index($2, d "/") == 1 {print $2}' /proc/self/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
}

elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}'; }

lssh() {
  local k; k=$(idx "$1"); shift
  ssh -i "$KEY" -o UserKnownHostsFile="$KH" -o StrictHostKeyChecking=yes -o BatchMode=yes \
      -o ConnectTimeout=5 -o LogLevel=ERROR "root@$(addr "$k")" "$@"
}

# ---------------------------------------------------------------- base image

# apt on the hosts goes through the lab's cacher, one request at a time, a
# stalled transfer timed out and retried. (apt-get update was seen waiting
# forever, apt-get and its http method both idle, on a connection the cacher
# had closed; it was seen again with these settings, so they do not cure it.)
apt_conf() {
  printf 'Acquire::http::Proxy "http://%s:%s";\n' "$GW" "$ACNG_PORT"
  printf 'Acquire::http::Pipeline-Depth "0";\nAcquire::http::Timeout "30";\nAcquire::Retries "3";\n'
}

# the base image of suite $1 (trixie, bookworm), built once
build_base() {
  local SUITE=$1 BASE; BASE=$(base_of "$1")
  # a base from before the lab knew releases was bookworm's
  if [ "$SUITE" = bookworm ] && [ ! -e "$BASE" ] && [ -f "$CACHE/base/.rampart-base-ok" ]; then mv "$CACHE/base" "$BASE"; fi
  [ -f "$BASE/.rampart-base-ok" ] && return 0
  local m tmp d; m=$(mirror)
  mkdir -p "$CACHE"
  for d in "$CACHE"/base.tmp.*; do [ -e "$d" ] || continue; umount_under "$d"; rm -rf --one-file-system "$d"; done
  tmp=$CACHE/base.tmp.$$
  say "building the Debian $(release_of_suite "$SUITE") ($SUITE) base image from $m (once; about 75 s)"
  if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$tmp" "$m" >"$CACHE/debootstrap-$SUITE.log" 2>&1 9>&-; then
    tail -20 "$CACHE/debootstrap-$SUITE.log" >&2
    umount_under "$tmp"; rm -rf --one-file-system "$tmp"
    die "debootstrap $SUITE failed (log: $CACHE/debootstrap-$SUITE.log)"
  fi
  umount_under "$tmp"
  rm -f "$tmp"/etc/ssh/ssh_host_* "$tmp/etc/machine-id" "$tmp/var/lib/dbus/machine-id"
  rm -f "$tmp"/etc/apt/sources.list.d/*
  printf 'deb %s %s main\ndeb %s %s-updates main\n' "$m" "$SUITE" "$m" "$SUITE" > "$tmp/etc/apt/sources.list"
  apt_conf > "$tmp/etc/apt/apt.conf.d/01rampart-lab-proxy"
  chroot "$tmp" apt-get clean >/dev/null 2>&1 || true
  touch "$tmp/.rampart-base-ok"
  [ ! -e "$BASE" ] || { umount_under "$BASE"; rm -rf --one-file-system "$BASE"; }
  mv "$tmp" "$BASE"
  say "base image ready ($(du -sh "$BASE" | cut -f1))"
}

# ---------------------------------------------------------------- network

net_up() {
  sysctl -qw fs.inotify.max_user_instances=1024 2>/dev/null || true
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  # (the output is read whole first: with pipefail, `ip | grep -q` fails when grep quits before ip has written all)
  [[ $(ip -4 addr show dev "$BRIDGE") == *" $GW/24 "* ]] || ip addr add "$GW/24" dev "$BRIDGE"
  # nothing that arrives on the bridge is routed anywhere (whatever the machine's global setting)
  sysctl -qw "net.ipv4.conf.$BRIDGE.forwarding=0" 2>/dev/null || true
  ip link set "$BRIDGE" up
  [ "$(cat /proc/sys/net/ipv4/ip_forward 2>/dev/null)" = 0 ] || say "note: this machine forwards IPv4; the lab's bridge itself does not"
  return 0
}

cacher_up() {
  local pidf=$ACNG/pid p i m
  p=$(cat "$pidf" 2>/dev/null || true)
  if pid_is "$p" apt-cacher-ng && (exec 3<>"/dev/tcp/$GW/$ACNG_PORT") 2>/dev/null; then return 0; fi
  if (exec 3<>"/dev/tcp/$GW/$ACNG_PORT") 2>/dev/null; then say "reusing the apt cacher already on $GW:$ACNG_PORT"; return 0; fi
  if pid_is "$p" apt-cacher-ng; then kill -TERM "$p" 2>/dev/null || true; sleep 0.5; fi
  m=$(mirror)
  mkdir -p "$ACNG/conf" "$CACHE/apt"
  # a private configuration: the machine's /etc/apt-cacher-ng and /var/cache/apt-cacher-ng stay untouched
  echo "$m/" > "$ACNG/conf/backends_debian"
  cat > "$ACNG/conf/acng.conf" <<EOF
CacheDir: $CACHE/apt
LogDir: $ACNG
SupportDir: /usr/lib/apt-cacher-ng
Port: $ACNG_PORT
BindAddress: $GW
SocketPath: $ACNG/socket
PidFile: $ACNG/acng.pid
Remap-debrep: file:deb_mirror*.gz /debian ; file:backends_debian
ExThreshold: 4
EOF
  setsid /usr/sbin/apt-cacher-ng -c "$ACNG/conf" ForeGround=1 >"$ACNG/stdout.log" 2>&1 </dev/null 9>&- &
  echo $! > "$pidf"
  for i in $(seq 1 50); do (exec 3<>"/dev/tcp/$GW/$ACNG_PORT") 2>/dev/null && return 0; sleep 0.2; done
  tail -5 "$ACNG/stdout.log" >&2 || true
  die "apt-cacher-ng did not start on $GW:$ACNG_PORT (logs in $ACNG)"
}

cacher_down() {
  local pidf=$ACNG/pid p i
  p=$(cat "$pidf" 2>/dev/null || true)
  if pid_is "$p" apt-cacher-ng; then
    kill -TERM "$p" 2>/dev/null || true
    for i in $(seq 1 20); do pid_is "$p" apt-cacher-ng || break; sleep 0.25; done
    ! pid_is "$p" apt-cacher-ng || kill -KILL "$p" 2>/dev/null || true
  fi
  rm -f "$pidf"
}

# the lab's image registry: Debian's docker-registry with a config of our own (no auth: the
# lab's bridge is private), its data under $REG (gone with `down`), its PID kept; and the
# same images behind htpasswd auth (bcrypt, made with python's crypt: no apache2-utils needed)
registry_up() {
  if [ ! -x /usr/bin/docker-registry ]; then
    command -v apt-get >/dev/null 2>&1 || refuse "up --docker needs Debian's docker-registry (/usr/bin/docker-registry)"
    say "installing what --docker needs: apt-get install docker-registry"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker-registry >>/var/log/rampart-lab-apt.log 2>&1 9>&- \
      || refuse "apt-get could not install docker-registry (log: /var/log/rampart-lab-apt.log)"
  fi
  mkdir -p "$REG/data"
  registry_serve "" 5000 "docker-registry" "  delete:
    enabled: true"
  [ -s "$REG/htpasswd" ] \
    || python3 -W ignore -c 'import crypt; print("rampart:" + crypt.crypt("lab-registry-pass", crypt.mksalt(crypt.METHOD_BLOWFISH)))' > "$REG/htpasswd" \
    || die "could not make $REG/htpasswd (python3 with the crypt module is needed)"
  registry_serve -auth 5001 "docker-registry with auth" "auth:
  htpasswd:
    realm: rampart-lab
    path: $REG/htpasswd"
}

# one docker-registry on $REG/data, unless it answers already: $1 the suffix of its files
# ($REG/pid$1, config$1.yml, registry$1.log), $2 its port on $GW, $3 what it is (for
# messages), $4 the YAML its config adds after storage's filesystem
registry_serve() {
  local sfx=$1 port=$2 what=$3 pidf=$REG/pid$1 p i
  p=$(cat "$pidf" 2>/dev/null || true)
  if pid_is "$p" docker-registry && (exec 3<>"/dev/tcp/$GW/$port") 2>/dev/null; then return 0; fi
  ! (exec 3<>"/dev/tcp/$GW/$port") 2>/dev/null || die "something else listens on $GW:$port (Debian's own docker-registry service? stop it, or free the port)"
  cat > "$REG/config$sfx.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REG/data
$4
http:
  addr: $GW:$port
EOF
  setsid /usr/bin/docker-registry serve "$REG/config$sfx.yml" >"$REG/registry$sfx.log" 2>&1 </dev/null 9>&- &
  echo $! > "$pidf"
  for i in $(seq 1 50); do (exec 3<>"/dev/tcp/$GW/$port") 2>/dev/null && return 0; sleep 0.2; done
  tail -5 "$REG/registry$sfx.log" >&2 || true
  die "$what did not start on $GW:$port (log: $REG/registry$sfx.log)"
}

registry_down() {
  local pidf p i
  for pidf in "$REG/pid-auth" "$REG/pid"; do
    p=$(cat "$pidf" 2>/dev/null || true)
    if pid_is "$p" docker-registry; then
      kill -TERM "$p" 2>/dev/null || true
      for i in $(seq 1 20); do pid_is "$p" docker-registry || break; sleep 0.25; done
      ! pid_is "$p" docker-registry || kill -KILL "$p" 2>/dev/null || true
    fi
    rm -f "$pidf"
  done
}

# netns rampart-labK with eth0 = K's address, and veth rlabK in the bridge; redone when not whole.
# $2 = boot: the host is about to boot, so eth0 keeps only its own address, as after a power loss
# (the namespace outlives a killed host, and so would a VIP its keepalived held)
host_net() {
  local k=$1 ns=rampart-lab$1 veth=rlab$1 peer=rlab$1p
  if ! { [ -e "/run/netns/$ns" ] && ip link show "$veth" >/dev/null 2>&1 && ip -n "$ns" link show eth0 >/dev/null 2>&1; }; then
    ip link del "$veth" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    ip netns add "$ns"
    ip link add "$veth" type veth peer name "$peer"
    ip link set "$peer" netns "$ns"
    ip -n "$ns" link set "$peer" name eth0
  fi
  ip link set "$veth" master "$BRIDGE"
  ip link set "$veth" up
  [ "${2:-}" != boot ] || ip -n "$ns" addr flush dev eth0
  [[ $(ip -n "$ns" addr show dev eth0) == *" $(addr "$k")/24 "* ]] || ip -n "$ns" addr add "$(addr "$k")/24" dev eth0
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route replace default via "$GW"
  # /proc/sys is read-only inside the container: per-namespace settings the roles expect (keepalived's VIP)
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_nonlocal_bind=1 2>/dev/null || true
  # a Docker host routes between its containers' bridge and eth0 (inside its own namespace;
  # the lab's bridge still forwards nothing)
  [ ! -f "$(hdir "$k")/docker" ] || ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 2>/dev/null || true
}

# ---------------------------------------------------------------- hosts

hosts_file() {
  local n=$1 j
  echo "127.0.0.1 localhost"
  echo "::1 localhost ip6-localhost ip6-loopback"
  for j in $(seq 1 "$n"); do echo "$(addr "$j") lab$j"; done
}

# the overlay root of host $1, made ready to boot; $2 = how many hosts /etc/hosts lists
host_root() {
  local k=$1 n=$2 h r; h=$(hdir "$k"); r=$h/root
  mkdir -p "$h/upper" "$h/work" "$r"
  mountpoint -q "$r" || mount -t overlay overlay -o "lowerdir=$(base_of "$(host_suite "$k")"),upperdir=$h/upper,workdir=$h/work" "$r"
  echo "lab$k" > "$r/etc/hostname"
  apt_conf > "$r/etc/apt/apt.conf.d/01rampart-lab-proxy"   # also on hosts made from an older base
  hosts_file "$n" > "$r/etc/hosts"
  mkdir -p "$r/root/.ssh"; chmod 700 "$r/root/.ssh"
  cp "$KEY.pub" "$r/root/.ssh/authorized_keys"; chmod 600 "$r/root/.ssh/authorized_keys"
  if [ ! -s "$r/etc/machine-id" ]; then
    systemd-machine-id-setup --root="$r" >/dev/null 2>&1 || tr -d '-' </proc/sys/kernel/random/uuid > "$r/etc/machine-id"
  fi
  [ -s "$r/etc/ssh/ssh_host_ed25519_key" ] || chroot "$r" ssh-keygen -A >/dev/null
  if [ -f "$h/docker" ]; then   # Docker, once installed, trusts the lab's registry over plain HTTP
    mkdir -p "$h/docker-data" "$r/etc/docker"
    printf '{ "insecure-registries": ["%s", "%s"] }\n' "$REG_ADDR" "$REG_AUTH_ADDR" > "$r/etc/docker/daemon.json"
  fi
}

# The cgroup hierarchies a host gets a cgroup of its own in: systemd-nspawn
# --keep-unit leaves the container in its caller's cgroup, so without this every
# host's systemd would manage the same payload/system.slice/*.service groups
# (one host's `systemctl stop` could see another's processes). Hybrid machines
# have a named systemd v1 hierarchy and a v2 one at unified/; a pure v2 machine
# has v2 at the top. PID 1's own systemd (if any) is left to place us.
cg_roots() {
  local d
  [ "$(cat /proc/1/comm 2>/dev/null)" != systemd ] || return 0
  for d in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
    [ -f "$d/cgroup.procs" ] && echo "$d"
  done
  [ -d /sys/fs/cgroup/systemd ] || { [ -f /sys/fs/cgroup/cgroup.procs ] && echo /sys/fs/cgroup; }
  return 0
}
cg_dir() { echo "$1/rampart-lab/lab$2"; }
# removes host $1's cgroups, deepest first (those its systemd made inside too)
cg_remove() {
  local r d
  for r in $(cg_roots); do
    d=$(cg_dir "$r" "$1")
    [ -d "$d" ] || continue
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    rmdir "$r/rampart-lab" 2>/dev/null || true
  done
  return 0
}

boot() {
  local k=$1 h r d cgs=(); h=$(hdir "$k")
  rm -f "$h/init.pid" "$h/pid"
  cg_remove "$k"
  for r in $(cg_roots); do d=$(cg_dir "$r" "$k"); mkdir -p "$d"; cgs+=("$d"); done
  # the launching shell moves into the host's own cgroups, then becomes systemd-nspawn;
  # CAP_NET_ADMIN inside the host's own network namespace: keepalived moves a VIP
  # a Docker host (`up --docker`): pure cgroup v2 inside, keyctl (runc's session keyring) and
  # bpf (Docker's device cgroup) allowed, /var/lib/docker on a plain directory (overlay2 cannot
  # stack on the host's overlay root)
  local docker_env=() docker_args=()
  if [ -f "$h/docker" ]; then
    docker_env=(SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 SYSTEMD_NSPAWN_API_VFS_WRITABLE=network)
    docker_args=("--system-call-filter=add_key keyctl bpf" "--bind=$h/docker-data:/var/lib/docker")
  fi
  env "${docker_env[@]}" H=$h K=$k setsid bash -c 'cgs=(); while [ "$1" != -- ]; do cgs+=("$1"); shift; done; shift
    for d in "${cgs[@]}"; do echo $$ > "$d/cgroup.procs" || exit 1; done
    exec systemd-nspawn -D "$H/root" --register=no --keep-unit -M "lab$K" -b --capability=CAP_NET_ADMIN --network-namespace-path="/run/netns/rampart-lab$K" --console=passive "$@"' \
    boot "${cgs[@]}" -- "${docker_args[@]}" >"$h/console.log" 2>&1 </dev/null 9>&- &
  local p=$! i
  echo "$p" > "$h/pid"
  # until the launcher has become systemd-nspawn, `running` would call the host stopped
  for i in $(seq 1 100); do pid_is "$p" "systemd-nspawn -D $h/root" && break; [ -d "/proc/$p" ] || break; sleep 0.05; done
}

# known_hosts line for host $1 from its own key file
kh_put() {
  local k=$1 a line; a=$(addr "$k")
  line="$a $(cut -d' ' -f1,2 "$(hdir "$k")/root/etc/ssh/ssh_host_ed25519_key.pub")"
  ( flock 8
    touch "$KH"
    grep -qxF "$line" "$KH" && exit 0
    { grep -v "^$a " "$KH" || true; echo "$line"; } > "$KH.tmp"; mv "$KH.tmp" "$KH"
  ) 8>"$LAB_DIR/.kh.lock"
}
kh_del() { [ -f "$KH" ] || return 0; ( flock 8; { grep -v "^$(addr "$1") " "$KH" || true; } > "$KH.tmp"; mv "$KH.tmp" "$KH" ) 8>"$LAB_DIR/.kh.lock"; }

# waits (bounded) until host $1 answers SSH with its own key and systemd is up
wait_host() {
  local k=$1 a h end key want st; a=$(addr "$k"); h=$(hdir "$k"); end=$((SECONDS + TIMEOUT))
  want=$(cut -d' ' -f1,2 "$h/root/etc/ssh/ssh_host_ed25519_key.pub")
  while :; do
    key=$(ssh-keyscan -T 2 -t ed25519 "$a" 2>/dev/null | awk '!/^#/ {print $2, $3; exit}' || true)
    [ -z "$key" ] || break
    running "$k" || { tail -5 "$h/console.log" >&2; die "lab$k stopped while booting (console: $h/console.log)"; }
    [ $SECONDS -lt $end ] || die "lab$k: no SSH on $a after $TIMEOUT s (console: $h/console.log)"
    sleep 0.3
  done
  [ "$key" = "$want" ] || die "lab$k: the SSH key answering on $a is not lab$k's own"
  kh_put "$k"
  st=$(init_pids "$k"); echo "${st%%$'\n'*}" > "$h/init.pid"
  while :; do
    st=$(lssh "lab$k" "timeout $((end - SECONDS > 5 ? end - SECONDS : 5)) systemctl is-system-running --wait" 2>/dev/null || true)
    case "$st" in
      running) break ;;
      degraded) say "lab$k: systemd is degraded: $(lssh "lab$k" 'systemctl --failed --no-legend --plain | cut -d" " -f1 | xargs' 2>/dev/null || true)"; break ;;
    esac
    running "$k" || die "lab$k stopped while booting (console: $h/console.log)"
    [ $SECONDS -lt $end ] || die "lab$k: systemd is '${st:-unreachable}' after $TIMEOUT s (console: $h/console.log)"
    sleep 0.5
  done
  touch "$h/.ready"
}

# waits for all the hosts given, in parallel
wait_hosts() {
  local k pids=() fail=0 p
  for k in "$@"; do wait_host "$k" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || fail=1; done
  [ $fail = 0 ] || die "some hosts did not come up (try: $PROG up N --fresh)"
}

# stops host $1: "graceful" (SIGTERM = poweroff, then kill after a bound) or "hard" (kill -9 of its init)
stop_host() {
  local k=$1 mode=$2 np i p inits
  np=$(nspawn_pid "$k"); inits=$(init_pids "$k")
  if [ -n "$np" ] && [ "$mode" = graceful ]; then
    kill -TERM "$np" 2>/dev/null || true
    for i in $(seq 1 60); do running "$k" || break; sleep 0.25; done
    inits=$(init_pids "$k")
  fi
  for p in $inits; do kill -KILL "$p" 2>/dev/null || true; done
  if [ -n "$np" ]; then
    for i in $(seq 1 40); do running "$k" || break; sleep 0.25; done
    ! running "$k" || kill -KILL "$np" 2>/dev/null || true
    for i in $(seq 1 20); do running "$k" || break; sleep 0.25; done
  fi
  rm -f "$(hdir "$k")/pid" "$(hdir "$k")/init.pid"
}

# everything of host $1 goes (its disk too)
remove_host() {
  local k=$1 h; h=$(hdir "$k")
  stop_host "$k" "${2:-graceful}"
  umount_under "$h"
  ip link del "rlab$k" 2>/dev/null || true
  ip netns del "rampart-lab$k" 2>/dev/null || true
  rm -rf --one-file-system "$h"
  rmdir "/run/systemd/nspawn/propagate/lab$k" 2>/dev/null || true   # nspawn's own leftover (empty)
  cg_remove "$k"
  kh_del "$k"
}

in_parallel() { # fn args... over the hosts on stdin
  local k pids=() p; local f=("$@")
  while read -r k; do [ -n "$k" ] || continue; "${f[@]}" "$k" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || true; done
}
remove_hard() { remove_host "$1" hard; }
remove_graceful() { remove_host "$1" graceful; }

# host $1 answers SSH (a few tries: a busy host may be slow)
answers() {
  local i
  for i in 1 2 3; do lssh "lab$1" true 2>/dev/null && return 0; sleep 2; done
  return 1
}

# ---------------------------------------------------------------- stand-in images

# The stand-in app's server: `/` answers the image's NAME:TAG, the seeds' health paths
# answer 200 (503 in an --unhealthy image), on $PORT (default 8000); SIGTERM stops it.
standin_server() {
  cat <<'PY'
import os, signal, sys, threading
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

NAME = os.environ.get("STANDIN_IMAGE", "?")
HEALTHY = os.environ.get("STANDIN_HEALTHY", "1") == "1"
HEALTH = {"/health", "/health/live", "/health/ready", "/v1/sys/health", "/healthcheck"}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path in HEALTH:
            code, body = (200, "ok\n") if HEALTHY else (503, "unhealthy stand-in\n")
        elif path == "/":
            code, body = 200, NAME + "\n"
        else:
            code, body = 404, "not found\n"
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    # a client that resets its connection (HAProxy's health checks close
    # with a reset) is not the stand-in's error: no traceback for it
    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


server = Server(("", int(os.environ.get("PORT", "8000"))), Handler)
signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=server.shutdown).start())
server.serve_forever()
PY
}

# `wget -q -O FILE URL` / `curl ... URL` for healthchecks: fails unless the URL answers 2xx
standin_fetch() {
  cat <<'PY'
#!/usr/bin/python3
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[-1], timeout=3).read()
except Exception as e:
    sys.stderr.write(f"{e}\n")
    sys.exit(1)
PY
}

# the stand-in's root file system in directory $1: python3 from the Debian 13 base, dash as /bin/sh
standin_rootfs() {
  local d=$1 b; b=$(base_of trixie)
  mkdir -p "$d/usr/bin" "$d/usr/lib/x86_64-linux-gnu" "$d/usr/lib64" "$d/app" "$d/tmp" "$d/etc"
  ln -s usr/bin "$d/bin"; ln -s usr/lib "$d/lib"; ln -s usr/lib64 "$d/lib64"
  chmod 1777 "$d/tmp"
  cp -a "$b/usr/bin/python3.13" "$b/usr/bin/dash" "$d/usr/bin/"
  ln -s python3.13 "$d/usr/bin/python3"; ln -s dash "$d/usr/bin/sh"
  local lib
  for lib in libc.so.6 libm.so.6 libz.so.1 libexpat.so.1; do cp -aL "$b/usr/lib/x86_64-linux-gnu/$lib" "$d/usr/lib/x86_64-linux-gnu/"; done
  cp -aL "$b/usr/lib64/ld-linux-x86-64.so.2" "$d/usr/lib64/"
  tar -C "$b/usr/lib" -c --exclude='python3.13/test' --exclude='python3.13/idlelib' --exclude='python3.13/tkinter' \
    --exclude='python3.13/ensurepip' --exclude='python3.13/pydoc_data' --exclude='python3.13/site-packages' \
    --exclude='python3.13/dist-packages' python3.13 | tar -C "$d/usr/lib" -x
  echo 'app:x:0:0:app:/app:/bin/sh' > "$d/etc/passwd"
  standin_server > "$d/app/server.py"
  standin_fetch > "$d/usr/bin/wget"; cp "$d/usr/bin/wget" "$d/usr/bin/curl"; chmod 755 "$d/usr/bin/wget" "$d/usr/bin/curl"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }
bytes() { stat -c %s "$1"; }

# uploads file $2 as blob sha256:$3 of repository $1 (skipped when the registry has it)
push_blob() {
  local repo=$1 f=$2 d=sha256:$3 loc sep
  curl -fsS -o /dev/null -I "http://$REG_ADDR/v2/$repo/blobs/$d" 2>/dev/null && return 0
  loc=$(curl -fsS -X POST -D - -o /dev/null "http://$REG_ADDR/v2/$repo/blobs/uploads/" | awk 'tolower($1) == "location:" {print $2}' | tr -d '\r')
  [ -n "$loc" ] || die "the registry on $REG_ADDR gave no upload location for $repo"
  case "$loc" in http*) ;; *) loc="http://$REG_ADDR$loc" ;; esac
  sep='?'; [[ $loc != *\?* ]] || sep='&'
  curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$f" "$loc${sep}digest=$d" \
    || die "uploading $f to $REG_ADDR/$repo failed"
}

# builds the stand-in image NAME:TAG (no Docker needed: a one-layer image made with tar) and pushes it
cmd_image() {
  local ref=${1:-} healthy=1 name tag
  [ $# -ge 1 ] || refuse "image NAME:TAG [--unhealthy]"
  shift
  while [ $# -gt 0 ]; do
    case "$1" in --unhealthy) healthy=0 ;; *) refuse "image NAME:TAG [--unhealthy]: unknown argument '$1'" ;; esac
    shift
  done
  [[ $ref =~ ^([a-z0-9]+([._/-][a-z0-9]+)*):([A-Za-z0-9_][A-Za-z0-9._-]{0,127})$ ]] \
    || refuse "image: '$ref' is not NAME:TAG (lower-case name like 'aegis/backend', tag like 'v1')"
  name=${BASH_REMATCH[1]}; tag=${BASH_REMATCH[3]}
  need; lock
  (exec 3<>"/dev/tcp/$GW/5000") 2>/dev/null || die "no registry on $REG_ADDR: run '$PROG up N --docker' first"
  build_base trixie
  local t0=$EPOCHREALTIME w; w=$LAB_DIR/image.$$
  rm -rf --one-file-system "$w"; mkdir -p "$w/rootfs"
  standin_rootfs "$w/rootfs"
  tar -C "$w/rootfs" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$w/layer.tar" .
  gzip -n -1 -c "$w/layer.tar" > "$w/layer.tar.gz"
  local diff layer cfg
  diff=$(sha "$w/layer.tar"); layer=$(sha "$w/layer.tar.gz")
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/bin","PORT=8000","STANDIN_IMAGE=%s","STANDIN_HEALTHY=%s"],"Cmd":["/usr/bin/python3","/app/server.py"],"WorkingDir":"/app","ExposedPorts":{"8000/tcp":{}}},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"rampart lab image"}]}' \
    "$name:$tag" "$healthy" "$diff" > "$w/config.json"
  cfg=$(sha "$w/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":%s,"digest":"sha256:%s"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":%s,"digest":"sha256:%s"}]}' \
    "$(bytes "$w/config.json")" "$cfg" "$(bytes "$w/layer.tar.gz")" "$layer" > "$w/manifest.json"
  push_blob "$name" "$w/layer.tar.gz" "$layer"
  push_blob "$name" "$w/config.json" "$cfg"
  curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/vnd.docker.distribution.manifest.v2+json' \
    --data-binary "@$w/manifest.json" "http://$REG_ADDR/v2/$name/manifests/$tag" \
    || die "pushing the manifest of $name:$tag to $REG_ADDR failed"
  local size; size=$(du -h "$w/layer.tar.gz" | cut -f1)
  rm -rf --one-file-system "$w"
  say "pushed $REG_ADDR/$name:$tag (stand-in$([ "$healthy" = 1 ] || echo ", unhealthy"); $size) in $(elapsed "$t0") s"
}

# ---------------------------------------------------------------- commands

cmd_up() {
  local n=${1:-} fresh= release=$DEFAULT_DEBIAN suite docker=
  [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] || refuse "up takes a host count from 1 to 200"
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --fresh) fresh=--fresh ;;
      --debian) [ $# -ge 2 ] || refuse "--debian takes 13 or 12"; release=$2; shift ;;
      --debian=*) release=${1#--debian=} ;;
      --docker) docker=--docker ;;
      *) refuse "up N [--fresh] [--debian 13|12] [--docker]: unknown argument '$1'" ;;
    esac
    shift
  done
  suite=$(suite_of "$release")
  need install; lock
  local t0=$EPOCHREALTIME k todo=() max
  mkdir -p "$HOSTS"
  [ -f "$KEY" ] && [ -f "$KEY.pub" ] || { rm -f "$KEY" "$KEY.pub"; ssh-keygen -q -t ed25519 -N '' -C rampart-lab -f "$KEY"; }
  if [ -z "$fresh" ]; then   # a kept host stays on its release: say so rather than mix silently
    for k in $(existing); do
      [ "$k" -le "$n" ] && [ -f "$(hdir "$k")/.ready" ] || continue
      [ "$(host_suite "$k")" = "$suite" ] || refuse "lab$k runs Debian $(release_of_suite "$(host_suite "$k")") ($(host_suite "$k")), not $release: add --fresh to remake the hosts on Debian $release"
      [ -z "$docker" ] || [ -f "$(hdir "$k")/docker" ] || refuse "lab$k was made without --docker: add --fresh to remake the hosts able to run Docker"
    done
  fi
  build_base "$suite"
  net_up
  cacher_up
  [ -z "$docker" ] || registry_up
  if [ "$fresh" = --fresh ] && [ -n "$(existing)" ]; then
    say "removing the old hosts ($(existing | sed 's/^/lab/' | xargs))"
    existing | in_parallel remove_hard
  fi
  max=$n   # /etc/hosts lists every host, the extra ones beyond N too (they are left alone)
  for k in $(existing); do [ "$k" -le "$max" ] || max=$k; done
  for k in $(seq 1 "$n"); do
    if running "$k"; then
      ip link set "rlab$k" master "$BRIDGE" up 2>/dev/null || true    # a cut link heals; a remade bridge gets it back
      [ ! -s "$(hdir "$k")/root/etc/ssh/ssh_host_ed25519_key.pub" ] || kh_put "$k"
      if answers "$k"; then
        touch "$(hdir "$k")/.ready"
        [ -s "$(hdir "$k")/init.pid" ] || { local ip; ip=$(init_pids "$k"); echo "${ip%%$'\n'*}" > "$(hdir "$k")/init.pid"; }
        continue
      fi
      say "lab$k runs but does not answer SSH: restarting it"
      stop_host "$k" hard
    fi
    [ -z "$(init_pids "$k")" ] || stop_host "$k" hard   # its nspawn died but the container lives on
    if [ -d "$(hdir "$k")" ] && [ ! -f "$(hdir "$k")/.ready" ]; then remove_host "$k" hard; fi  # never came up: redo
    todo+=("$k")
  done
  local r
  for k in $(existing); do   # hosts kept: their /etc/hosts learns about new hosts
    r=$(hdir "$k")/root
    [[ " ${todo[*]} " != *" $k "* ]] && mountpoint -q "$r" || continue
    cmp -s <(hosts_file "$max") "$r/etc/hosts" || hosts_file "$max" > "$r/etc/hosts"
  done
  if [ ${#todo[@]} -gt 0 ]; then
    say "booting $(printf 'lab%s ' "${todo[@]}")"
    for k in "${todo[@]}"; do mkdir -p "$(hdir "$k")"; echo "$suite" > "$(hdir "$k")/suite"; [ -z "$docker" ] || touch "$(hdir "$k")/docker"; host_net "$k" boot; host_root "$k" "$max"; boot "$k"; done
    wait_hosts "${todo[@]}"
  fi
  say "$n Debian $release hosts${docker:+ able to run Docker (registry on $REG_ADDR)} up (${#todo[@]} booted) in $(elapsed "$t0") s: $(for k in $(seq 1 "$n"); do printf 'lab%s=%s ' "$k" "$(addr "$k")"; done)"
}

cmd_down() {
  local purge=${1:-} ns l
  [ -z "$purge" ] || [ "$purge" = --purge ] || refuse "down [--purge]"
  need
  if [ ! -d "$LAB_DIR" ] && ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    [ "$purge" != --purge ] || rm -rf --one-file-system "$CACHE"
    say "down (nothing was up)"; return 0
  fi
  lock
  existing | in_parallel remove_graceful
  # leftovers of a crashed run: these names and paths are the lab's own
  umount_under "$HOSTS"
  for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E '^rlab[0-9]+$' || true); do ip link del "$l" 2>/dev/null || true; done
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^rampart-lab[0-9]+$' || true); do ip netns del "$ns" 2>/dev/null || true; done
  for l in $(cg_roots); do [ ! -d "$l/rampart-lab" ] || find "$l/rampart-lab" -depth -type d -exec rmdir {} + 2>/dev/null || true; done
  cacher_down
  registry_down
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -rf --one-file-system "$HOSTS" "$ACNG" "$REG" "$KH" "$KH.tmp" "$LAB_DIR/.kh.lock"
  if [ "$purge" = --purge ]; then
    umount_under "$CACHE"
    rm -rf --one-file-system "$CACHE" "$LAB_DIR"
    say "down; base images and cache deleted"
  else
    say "down (base images kept in $CACHE)"
  fi
}

cmd_inventory() {
  local out=${1:-} ks k i=0 all=() edge=()
  need
  ks=$(existing)
  [ -n "$ks" ] || die "no lab hosts: run '$PROG up 3' first"
  local zones=(a b c)
  for k in $ks; do all+=("\"lab$k\""); done
  edge=("${all[@]:0:2}")
  join() { local s='' x; for x in "$@"; do s="${s:+$s, }$x"; done; echo "$s"; }
  {
    echo "# written by \`rampart lab inventory\`"
    echo "[defaults]"
    echo "user = \"root\""
    echo "port = 22"
    echo "identity = \"$KEY\""
    echo "known_hosts = \"$KH\""
    echo "host_key_policy = \"strict\""
    for k in $ks; do
      printf '\n[hosts.lab%s]\naddress = "%s"\nzone = "%s"\ndebian = %s\n' "$k" "$(addr "$k")" "${zones[$((i % 3))]}" "$(release_of_suite "$(host_suite "$k")")"
      i=$((i + 1))
    done
    echo
    echo "[groups]"
    echo "data = [$(join "${all[@]}")]"
    echo "app = [$(join "${all[@]}")]"
    echo "edge = [$(join "${edge[@]}")]"
  } > "${out:-/dev/stdout}${out:+.tmp}"
  [ -z "$out" ] || { mv "$out.tmp" "$out"; say "wrote $out"; }
}

cmd_status() {
  need
  local k p
  for k in $(existing); do
    p=$(nspawn_pid "$k")
    if [ -n "$p" ]; then echo "lab$k $(addr "$k") $p running debian$(release_of_suite "$(host_suite "$k")")"; else echo "lab$k $(addr "$k") - stopped debian$(release_of_suite "$(host_suite "$k")")"; fi
  done
}

host_exists() { [ -d "$(hdir "$1")" ] || die "lab$1 does not exist (run '$PROG up $1')"; }

cmd_kill() {
  need; local k; k=$(idx "${1:-}"); lock; host_exists "$k"
  ip link set "rlab$k" down 2>/dev/null || true     # like a power loss: no RST, no ICMP
  running "$k" || [ -n "$(init_pids "$k")" ] || { say "lab$k was not running"; return 0; }
  stop_host "$k" hard
  running "$k" && die "lab$k: nspawn still runs after kill -9 of its init"
  say "lab$k powered off (link down; '$PROG start lab$k' boots it again)"
}

cmd_start() {
  need install; local k n; k=$(idx "${1:-}"); lock; host_exists "$k"
  net_up; cacher_up
  if running "$k"; then
    host_net "$k"
    answers "$k" && { say "lab$k already running"; return 0; }
    wait_hosts "$k"; say "lab$k running"; return 0
  fi
  [ -z "$(init_pids "$k")" ] || stop_host "$k" hard   # its nspawn died but the container lives on
  host_net "$k" boot
  n=$(existing | tail -1)
  host_root "$k" "$n"
  boot "$k"
  wait_hosts "$k"
  say "lab$k started"
}

cmd_link() {
  need; local k; k=$(idx "${2:-}"); host_exists "$k"
  ip link show "rlab$k" >/dev/null 2>&1 || die "lab$k has no link (is it up?)"
  ip link set "rlab$k" "$1"
  if [ "$1" = down ]; then say "lab$k network cut"; else say "lab$k network restored"; fi
}

cmd_ssh() {
  need; local h=${1:-}; idx "$h" >/dev/null; shift || true
  [ -f "$KEY" ] || die "no lab key at $KEY (run '$PROG up N')"
  lssh "$h" "$@"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  inventory) shift; cmd_inventory "$@" ;;
  status) cmd_status ;;
  kill) cmd_kill "${2:-}" ;;
  start) cmd_start "${2:-}" ;;
  cut) cmd_link down "${2:-}" ;;
  heal) cmd_link up "${2:-}" ;;
  ssh) shift; cmd_ssh "$@" ;;
  image) shift; cmd_image "$@" ;;
  *) usage ;;
esac
