#!/usr/bin/env bash
# scripts/hosts.sh: "more than one machine, on one machine" for the distributed model. Each host
# is a network namespace joined to a bridge in this machine's namespace by a veth pair, with an
# address in a private /24 that exists only inside this machine; the links get an added latency
# and a bandwidth limit (tc netem, or tbf's bandwidth alone where the kernel has no netem). The
# broker listens on the bridge's address; workers started with `hosts.sh exec` reach it and
# nothing else: no route leads out of the machine.
#
#   scripts/hosts.sh check                         # can hosts be made here? (root, ip, tc) says why not
#   scripts/hosts.sh up PREFIX COUNT [DELAY RATE]  # e.g. up dth 2 1ms 1gbit; prints KEY=VALUE lines:
#                                                  #   BRIDGE_ADDR, HOSTS (names), SHAPING (what tc did)
#   scripts/hosts.sh exec PREFIX I COMMAND...      # run COMMAND on host I (1-based)
#   scripts/hosts.sh cut PREFIX I                  # tear host I down mid-run: its link goes first (the
#                                                  # network is gone), then its processes, then it
#   scripts/hosts.sh down PREFIX                   # tear every host of PREFIX down (idempotent)
#
# Used by scripts/compare.sh and by the fault tests (testkit::hosts). PREFIX is at most 6
# letters and digits: interface names have 15 characters at most.
set -euo pipefail

die() {
    echo "hosts.sh: error: $*" >&2
    exit 2
}

check() {
    [ "$(id -u)" = 0 ] || { echo "not root: network namespaces need root"; return 1; }
    command -v ip >/dev/null 2>&1 || { echo "no ip command (apt-get install iproute2)"; return 1; }
    command -v tc >/dev/null 2>&1 || { echo "no tc command (apt-get install iproute2)"; return 1; }
    local probe="dtprobe$$"
    if ! ip netns add "$probe" 2>/dev/null; then
        echo "ip netns add fails here (no permission to make namespaces)"
        return 1
    fi
    ip netns del "$probe"
    return 0
}

prefix_ok() {
    [[ "$1" =~ ^[a-z][a-z0-9]{0,5}$ ]] || die "PREFIX '$1' must be 1 to 6 lower-case letters and digits, starting with a letter"
}

# A /24 in 10.231.0.0/16 that no interface of this machine uses yet.
free_subnet() {
    local used x
    used=$(ip -4 -o addr show | awk '{print $4}')
    for x in $(seq 1 250); do
        grep -q "^10\.231\.$x\." <<<"$used" || { echo "10.231.$x"; return 0; }
    done
    die "no free /24 left in 10.231.0.0/16"
}

# shape DEV [ip netns exec NS]: the link's latency and bandwidth.
shape() {
    local dev=$1
    shift
    if "$@" tc qdisc add dev "$dev" root netem delay "$DELAY" rate "$RATE" 2>/dev/null; then
        SHAPING="netem delay $DELAY rate $RATE"
    elif "$@" tc qdisc add dev "$dev" root tbf rate "$RATE" burst 256kb latency 50ms 2>/dev/null; then
        SHAPING="tbf rate $RATE (this kernel has no netem: no latency added)"
    else
        SHAPING="none (this kernel has neither netem nor tbf)"
    fi
}

up() {
    local prefix=$1 count=$2 net br i ns veth names=()
    DELAY=${3:-} RATE=${4:-}
    SHAPING="none asked"
    [[ "$count" =~ ^[1-9][0-9]?$ ]] || die "COUNT must be 1 to 99"
    net=$(free_subnet)
    br="${prefix}br"
    ip link add "$br" type bridge
    ip addr add "$net.1/24" dev "$br"
    ip link set "$br" up
    for i in $(seq 1 "$count"); do
        ns="$prefix-h$i" veth="${prefix}v$i"
        ip netns add "$ns"
        ip link add "$veth" type veth peer name eth0 netns "$ns"
        ip link set "$veth" master "$br" up
        ip netns exec "$ns" ip addr add "$net.$((10 + i))/24" dev eth0
        ip netns exec "$ns" ip link set eth0 up
        ip netns exec "$ns" ip link set lo up
        if [ -n "$RATE" ]; then
            shape "$veth"
            shape eth0 ip netns exec "$ns"
        fi
        names+=("$ns")
    done
    echo "BRIDGE_ADDR=$net.1"
    echo "HOSTS=${names[*]}"
    echo "SHAPING=$SHAPING"
}

host_ns() {
    local ns="$1-h$2"
    ip netns list | awk '{print $1}' | grep -qx "$ns" || die "no host $ns"
    echo "$ns"
}

cut_host() {
    local prefix=$1 i=$2 ns pids
    ns=$(host_ns "$prefix" "$i")
    # The network first, as when a machine drops off: its last results cannot arrive.
    ip link del "${prefix}v$i" 2>/dev/null || true
    # Then what ran there: only the processes inside this namespace, which this script's
    # caller started there.
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
    ip netns del "$ns"
}

down() {
    local prefix=$1 ns i
    for ns in $(ip netns list | awk '{print $1}' | grep -E "^$prefix-h[0-9]+$" || true); do
        i=${ns##*-h}
        cut_host "$prefix" "$i"
    done
    ip link del "${prefix}br" 2>/dev/null || true
}

cmd=${1:-}
shift || true
case "$cmd" in
check) check ;;
up)
    [ $# -ge 2 ] || die "usage: hosts.sh up PREFIX COUNT [DELAY RATE]"
    prefix_ok "$1"
    # A half-made set of hosts is torn down, not left behind.
    trap 'down "$1" >/dev/null 2>&1' ERR
    up "$@"
    ;;
exec)
    [ $# -ge 3 ] || die "usage: hosts.sh exec PREFIX I COMMAND..."
    prefix_ok "$1"
    ns=$(host_ns "$1" "$2")
    shift 2
    exec ip netns exec "$ns" "$@"
    ;;
cut)
    [ $# = 2 ] || die "usage: hosts.sh cut PREFIX I"
    prefix_ok "$1"
    cut_host "$1" "$2"
    ;;
down)
    [ $# = 1 ] || die "usage: hosts.sh down PREFIX"
    prefix_ok "$1"
    down "$1"
    ;;
*) die "usage: hosts.sh check|up|exec|cut|down ... (see the header of this script)" ;;
esac
