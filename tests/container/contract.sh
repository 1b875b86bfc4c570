#!/bin/sh
# The capability contract of the Sluice image (docs/deploy.md), proven without a container
# runtime: sluice runs as uid 10001 in a private network namespace (nothing else listens there,
# net.ipv4.ip_unprivileged_port_start pinned to 1024) with proxy.addr 0.0.0.0:80 and a TLS
# listener on 0.0.0.0:443, launched by capsh the way runc/containerd start a container process
# (bounding set, then uid/gid, then the permitted/effective sets, then no_new_privs, then exec).
#
#   (a) Docker's default capability set as the bounding set, permitted set empty, no
#       no_new_privs: the file capability alone lets it serve /livez on :80 and :443.
#   (b) restricted Pod Security Standard (drop ALL, add NET_BIND_SERVICE, no privilege
#       escalation): bounding = permitted = effective = {NET_BIND_SERVICE}, no_new_privs,
#       sluice exec'd directly as PID 1 of its own PID namespace (as the manifests' `command`
#       runs it, without tini): it serves, and SIGTERM still drains it to exit 0.
#   (c) empty bounding set (drop ALL without adding NET_BIND_SERVICE back): the exec itself fails
#       with "Operation not permitted".
#   (d) a copy of the binary without the file capability: the bind fails with sluice's one-line
#       EACCES message and exit 1.
#   (f) host only, the systemd unit's model (deploy/systemd/sluice.service): that copy without
#       the file capability, given CAP_NET_BIND_SERVICE as an ambient capability with the same
#       bounding set and no_new_privs, serves.
#
# Two targets:
#   contract.sh host BINARY            installs BINARY in a temporary prefix, applies the file
#                                      capability with setcap, runs (a)-(d) and (f)
#   contract.sh rootfs DIR [-- EP...]  runs (a)-(d) against an image's extracted root filesystem
#                                      (chroot, mounted read-only as under readOnlyRootFilesystem);
#                                      the capability must already be on /usr/local/bin/sluice.
#                                      EP is the image's ENTRYPOINT. With it, (a) goes through it
#                                      (also with only NET_BIND_SERVICE in the bounding set, as
#                                      docker run --cap-drop ALL --cap-add NET_BIND_SERVICE), (c)
#                                      is shown through it too, and the image's run-time checks
#                                      follow: (e) the restricted profile through the entrypoint
#                                      fails to bind (why the Kubernetes manifests exec sluice
#                                      directly), the baked default config serves, the entrypoint
#                                      exits 64 without a config, and `sluice --version` runs
#                                      (SLUICE_EXPECT_VERSION, when set, is the exact line).
#
# Prints PASS/FAIL per scenario and "N passed, N failed"; exits 1 if anything failed. Removes its
# namespace, processes and files on every exit. Run as root.
set -u

uid=10001
nbs_mask=0000000000000400 # CAP_NET_BIND_SERVICE is bit 10
none=0000000000000000
docker_caps=cap_chown,cap_dac_override,cap_fsetid,cap_fowner,cap_mknod,cap_net_raw,cap_setgid
docker_caps=$docker_caps,cap_setuid,cap_setfcap,cap_setpcap,cap_net_bind_service,cap_sys_chroot
docker_caps=$docker_caps,cap_kill,cap_audit_write
docker_bits="0 1 3 4 5 6 7 8 10 13 18 27 29 31" # the same set as capability numbers
image_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# tini is PID 1 in a container; here it is not, so let it register as a subreaper instead (which
# also keeps its "not running as PID 1" warning out of the logs).
tini_env=TINI_SUBREAPER=1

usage() {
    echo "usage: $0 host BINARY | $0 rootfs DIR [-- ENTRYPOINT...]" >&2
    exit 2
}
mode=${1:-}
target=${2:-}
case $mode in host | rootfs) ;; *) usage ;; esac
[ -n "$target" ] || usage
shift 2
[ "${1:-}" != -- ] || shift
# "$@" is now the image's entrypoint (rootfs only).
if [ "$(id -u)" != 0 ]; then
    echo "contract.sh: run as root (ip netns, capsh, setcap)" >&2
    exit 2
fi
for tool in ip capsh getcap setcap curl openssl; do
    command -v $tool >/dev/null 2>&1 || {
        echo "contract.sh: $tool not found (scripts/deps.sh container)" >&2
        exit 2
    }
done

ns=sluice-contract-$$
work=$(mktemp -d /tmp/sluice-contract.XXXXXX)
chmod 0755 "$work"
root=""
dir_in=$work # the test directory as sluice sees it
# shellcheck source=tests/container/tally.sh
. "$(dirname "$0")/tally.sh"

cleanup() {
    # Every process in our namespace is ours; nothing else can be in it.
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
    [ -z "$root" ] || rm -rf "$root$dir_in"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Shows a log under a failure, indented.
show() { sed -e 's/^/    | /' "$1" | tail -n 20; }

# Capability names in the current (root) bounding set except those in $1 (comma list).
all_caps=$(capsh --print | sed -n 's/^Bounding set =//p')
caps_except() {
    out=""
    for c in $(echo "$all_caps" | tr , ' '); do
        case ",$1," in *,$c,*) ;; *) out="$out${out:+,}$c" ;; esac
    done
    echo "$out"
}
drop_for_docker=$(caps_except "$docker_caps")
drop_for_restricted=$(caps_except cap_net_bind_service)
host_bnd=$((0x$(awk '/^CapBnd:/ { print $2 }' /proc/self/status)))
docker_mask=0
for b in $docker_bits; do docker_mask=$((docker_mask | (1 << b))); done
docker_bnd=$(printf '%016x' $((docker_mask & host_bnd)))

# capsh options for a launch profile; see the header. The order is runc's: bounding set, gid,
# groups, uid (keeping capabilities only where the runtime grants some), capability sets,
# no_new_privs.
capsh_opts() {
    case $1 in
    docker) echo "--drop=$drop_for_docker --gid=$uid --groups= --uid=$uid" ;;
    restricted)
        echo "--drop=$drop_for_restricted --keep=1 --gid=$uid --groups= --uid=$uid" \
            "--caps=cap_net_bind_service+ep --no-new-privs"
        ;;
    empty) echo "--drop=$all_caps --gid=$uid --groups= --uid=$uid --no-new-privs" ;;
    nbs) echo "--drop=$drop_for_restricted --gid=$uid --groups= --uid=$uid" ;;
    ambient)
        echo "--drop=$drop_for_restricted --keep=1 --gid=$uid --groups= --uid=$uid" \
            "--caps=cap_net_bind_service+eip --addamb=cap_net_bind_service --no-new-privs"
        ;;
    esac
}

# In rootfs mode the command runs chrooted into the image's root, which is bind-mounted
# read-only with /proc mounted, inside the mount namespace `ip netns exec` creates (so nothing
# leaks into the host's mounts).
# shellcheck disable=SC2016 # expanded by the sh -c that runs it
prelude='mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" &&
    mount -t proc proc "$1/proc" && shift && exec "$@"'

# Builds the launch command in $cmd: cmd_for PROFILE ENV PROG ARGS...; ENV is a space-separated
# list of NAME=VALUE words (values without spaces). With pidns=1 the process is PID 1 of a new
# PID namespace.
pidns=0
cmd_for() {
    profile=$1 envs=$2 prog=$3
    shift 3
    chroot_opt=""
    [ -z "$root" ] || chroot_opt="--chroot=$root"
    # shellcheck disable=SC2046,SC2086
    set -- env -i PATH=$image_path $envs capsh $chroot_opt $(capsh_opts "$profile") \
        --shell="$prog" -- "$@"
    [ $pidns = 0 ] || set -- unshare --pid --fork --kill-child "$@"
    [ -z "$root" ] || set -- sh -c "$prelude" sh "$root" "$@"
    cmd="ip netns exec $ns"
    for a in "$@"; do cmd="$cmd '$a'"; done
}

# start LOG PROFILE ENV PROG ARGS...: starts in the background; $pid is the launched process
# (each step execs the next, so it is the server's own pid, or tini's, or unshare's).
start() {
    log=$1
    shift
    cmd_for "$@"
    eval "$cmd" '>"$log" 2>&1 &'
    pid=$!
}

# run LOG PROFILE ENV PROG ARGS...: runs to completion (at most 20 s); $rc is its exit code.
run() {
    log=$1
    shift
    cmd_for "$@"
    eval "timeout 20 $cmd" '>"$log" 2>&1'
    rc=$?
}

in_ns() { ip netns exec "$ns" "$@"; }

# Waits until http://127.0.0.1:PORT/livez answers 200 (true) or the process exits (false).
wait_ready() {
    i=0
    while [ $i -lt 150 ]; do
        kill -0 "$pid" 2>/dev/null || return 1
        code=$(in_ns curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
            "http://127.0.0.1:$1/livez")
        [ "$code" = 200 ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# Sends SIGTERM the way a runtime does (to the container's PID 1: tini, or sluice itself) and
# waits; returns the exit status of $pid (unshare passes its child's on).
stop() {
    target=$pid
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != unshare ] || target=$(sluice_pid)
    kill -TERM "${target:-$pid}" 2>/dev/null
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 200 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid"
}

# The sluice process: $pid itself, or its child when $pid is tini or unshare.
sluice_pid() {
    p=$pid
    for _ in 1 2 3; do
        [ -n "$p" ] || return
        case $(cat "/proc/$p/comm" 2>/dev/null) in
        sluice | sluice-nocap)
            echo "$p"
            return
            ;;
        esac
        p=$(cut -d' ' -f1 "/proc/$p/task/$p/children" 2>/dev/null)
    done
}

# Prints "uid=U bnd=X prm=X eff=X amb=X nnp=N" for the sluice process, plus " pid=1" when it
# is PID 1 of its namespace.
creds() {
    awk '/^Uid:/ { u = $2 } /^CapPrm:/ { p = $2 } /^CapEff:/ { e = $2 } /^CapAmb:/ { a = $2 }
         /^CapBnd:/ { b = $2 } /^NoNewPrivs:/ { n = $2 } /^NSpid:/ { ns = $NF }
         END { printf "uid=%s bnd=%s prm=%s eff=%s amb=%s nnp=%s%s", u, b, p, e, a, n,
               ns == 1 ? " pid=1" : "" }' "/proc/$(sluice_pid)/status" 2>/dev/null
}

# serves NAME PROFILE EXPECTED_CREDS ENV PROG ARGS...: the scenario passes when sluice answers
# /livez with "ok" over HTTP on :80 and HTTPS on :443 (certificate verified), runs with exactly
# EXPECTED_CREDS, and exits 0 on SIGTERM.
serves() {
    name=$1 profile=$2 want=$3
    shift 3
    log=$work/$profile.log
    start "$log" "$profile" "$@"
    if ! wait_ready 80; then
        fail "$name: never served http://127.0.0.1:80/livez"
        show "$log"
        stop
        return
    fi
    got=$(creds)
    http=$(in_ns curl -sS --max-time 5 http://127.0.0.1:80/livez 2>&1)
    https=$(in_ns curl -sS --max-time 5 --cacert "$dir/tls.crt" \
        --resolve localhost:443:127.0.0.1 https://localhost:443/livez 2>&1)
    stop
    rc=$?
    if [ "$http" != ok ] || [ "$https" != ok ]; then
        fail "$name: :80 answered '$http', :443 answered '$https'"
        show "$log"
    elif [ "$got" != "$want" ]; then
        fail "$name: served, but with $got (expected $want)"
    elif [ $rc != 0 ]; then
        fail "$name: served, but exited $rc on SIGTERM"
        show "$log"
    else
        pass "$name: /livez on :80 and :443 [$got]"
    fi
}

# ---- setup ----
if [ "$mode" = rootfs ]; then
    root=$(cd "$target" && pwd)
    dir_in=/tmp/sluice-contract.$$
    mkdir -m 0755 "$root$dir_in"
    bin=/usr/local/bin/sluice
    bin_on_host=$root$bin
else
    install -d -m 0755 "$work/bin"
    install -m 0755 "$target" "$work/bin/sluice"
    setcap cap_net_bind_service=+ep "$work/bin/sluice"
    bin=$work/bin/sluice
    bin_on_host=$bin
fi
dir=$root$dir_in # the test directory as the host sees it
fcap=$(getcap "$bin_on_host" | awk '{ print $2 }')
echo "contract: $mode $target; $bin carries '${fcap:-no capability}'"
if [ "$fcap" != cap_net_bind_service=ep ]; then
    fail "precondition: $bin must carry cap_net_bind_service=ep, found '${fcap:-nothing}'"
    echo "$passed passed, $failed failed"
    exit 1
fi
# A copy without the file capability: plain cp does not copy security.capability.
cp "$bin_on_host" "$dir/sluice-nocap"
chmod 0755 "$dir/sluice-nocap"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
chown "$uid:$uid" "$dir/tls.key"
chmod 0600 "$dir/tls.key"
chmod 0644 "$dir/tls.crt"
cat >"$dir/config.yaml" <<EOF
proxy:
  addr: 0.0.0.0:80
  workers: 1
  tls:
    cert_file: $dir_in/tls.crt
    key_file: $dir_in/tls.key
    addr: 0.0.0.0:443
observability:
  log_level: info
  metrics:
    prometheus:
      enabled: false
shutdown:
  min_drain_secs: 0
EOF
chmod 0644 "$dir/config.yaml"
config=$dir_in/config.yaml

ip netns add "$ns"
in_ns ip link set lo up
in_ns sysctl -qw net.ipv4.ip_unprivileged_port_start=1024
echo "contract: namespace $ns, ip_unprivileged_port_start=$(in_ns sysctl -n \
    net.ipv4.ip_unprivileged_port_start), uid $uid$([ -z "$root" ] || echo ", root read-only")"

eacces="sluice: proxy listener 0.0.0.0:80: bind failed: Permission denied (errno 13); ports below 1024 need CAP_NET_BIND_SERVICE (file capability cap_net_bind_service=+ep on the binary, or the container capability)"

# ---- scenarios ----
if [ "$mode" = rootfs ] && [ $# -gt 0 ]; then
    ep=$1
    shift
    serves "(a) Docker default capabilities, through the image entrypoint" docker \
        "uid=$uid bnd=$docker_bnd prm=$nbs_mask eff=$nbs_mask amb=$none nnp=0" \
        "$tini_env SLUICE_CONFIG_PATH=$config" "$ep" "$@"
    serves "(a) docker run --cap-drop ALL --cap-add NET_BIND_SERVICE, through the entrypoint" nbs \
        "uid=$uid bnd=$nbs_mask prm=$nbs_mask eff=$nbs_mask amb=$none nnp=0" \
        "$tini_env SLUICE_CONFIG_PATH=$config" "$ep" "$@"
else
    serves "(a) Docker default capabilities" docker \
        "uid=$uid bnd=$docker_bnd prm=$nbs_mask eff=$nbs_mask amb=$none nnp=0" "" \
        "$bin" --config "$config"
fi

pidns=1
serves "(b) restricted profile (drop ALL, add NET_BIND_SERVICE, no_new_privs), sluice as PID 1" \
    restricted "uid=$uid bnd=$nbs_mask prm=$nbs_mask eff=$nbs_mask amb=$none nnp=1 pid=1" "" \
    "$bin" --config "$config"
pidns=0

# env execs sluice with the same credentials and prints the errno text capsh does not.
run "$work/empty.log" empty "" /usr/bin/env "$bin" --config "$config"
if [ $rc = 126 ] && grep -q "Operation not permitted" "$work/empty.log"; then
    pass "(c) empty bounding set: exec refused [$(tr -d '\n' <"$work/empty.log")]"
else
    fail "(c) empty bounding set: expected exit 126 and 'Operation not permitted', got exit $rc"
    show "$work/empty.log"
fi

if [ "$mode" = rootfs ] && [ -n "${ep:-}" ]; then
    # docker run --cap-drop ALL: the same refusal, reported by the entrypoint's exec.
    run "$work/ep-empty.log" empty "$tini_env SLUICE_CONFIG_PATH=$config" "$ep" "$@"
    if [ $rc = 126 ] && grep -q "exec: $bin: Operation not permitted" "$work/ep-empty.log"; then
        pass "(c) empty bounding set through the image entrypoint: exit 126" \
            "[$(tr -d '\n' <"$work/ep-empty.log")]"
    else
        fail "(c) empty bounding set through the entrypoint: expected exit 126 and" \
            "'Operation not permitted', got exit $rc"
        show "$work/ep-empty.log"
    fi
fi

run "$work/nocap.log" docker "" "$dir_in/sluice-nocap" --config "$config"
if [ $rc = 1 ] && [ "$(cat "$work/nocap.log")" = "$eacces" ]; then
    pass "(d) copy without the file capability: exit 1 [$(cat "$work/nocap.log")]"
else
    fail "(d) copy without the file capability: expected exit 1 and the EACCES line, got exit $rc"
    show "$work/nocap.log"
fi

if [ "$mode" = host ]; then
    serves "(f) systemd unit model: ambient NET_BIND_SERVICE, binary without the file capability" \
        ambient "uid=$uid bnd=$nbs_mask prm=$nbs_mask eff=$nbs_mask amb=$nbs_mask nnp=1" "" \
        "$dir_in/sluice-nocap" --config "$config"
fi

if [ "$mode" = rootfs ] && [ -n "${ep:-}" ]; then
    # tini and the entrypoint script carry no file capability, so under no_new_privs the
    # permitted set is empty by the time sluice is exec'd and the file capability cannot add
    # to it. Kubernetes manifests therefore set command: [/usr/local/bin/sluice].
    run "$work/ep-restricted.log" restricted "$tini_env SLUICE_CONFIG_PATH=$config" "$ep" "$@"
    if [ $rc = 1 ] && grep -qxF "$eacces" "$work/ep-restricted.log"; then
        pass "(e) restricted profile through tini + sluice-entrypoint: bind refused, exit 1" \
            "(documented; the manifests exec sluice directly)"
    else
        fail "(e) restricted profile through the entrypoint: expected exit 1 and the EACCES line," \
            "got exit $rc"
        show "$work/ep-restricted.log"
    fi

    run "$work/ep-missing.log" docker "$tini_env SLUICE_CONFIG_PATH=/nonexistent/config.yaml" \
        "$ep" "$@"
    hint="config file /nonexistent/config.yaml not found.*SLUICE_CONFIG_PATH"
    if [ $rc = 64 ] && grep -q "$hint" "$work/ep-missing.log"; then
        pass "image: entrypoint without a config file exits 64 [$(cat "$work/ep-missing.log")]"
    else
        fail "image: entrypoint without a config file: expected exit 64 and the hint, got exit $rc"
        show "$work/ep-missing.log"
    fi

    run "$work/version.log" docker "" "$bin" --version
    version=$(cat "$work/version.log")
    if [ $rc = 0 ] && case $version in "sluice "[0-9]*) true ;; *) false ;; esac &&
        [ "${SLUICE_EXPECT_VERSION:-$version}" = "$version" ]; then
        pass "image: sluice --version as uid $uid [$version]"
    else
        fail "image: sluice --version: exit $rc, '$version'" \
            "(expected '${SLUICE_EXPECT_VERSION:-sluice X.Y.Z}')"
    fi

    # The baked /etc/sluice/config.yaml: no SLUICE_CONFIG_PATH, no resources.
    log=$work/default.log
    start "$log" docker "$tini_env" "$ep" "$@"
    if wait_ready 3000; then
        ready=$(in_ns curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:3000/readyz)
        chat=$(in_ns curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
            -d '{}' http://127.0.0.1:3000/v1/chat/completions)
        metrics=$(in_ns curl -s http://127.0.0.1:9090/metrics | grep -c '^sluice_build_info')
        stop
        rc=$?
        if [ "$ready" = 200 ] && [ "$chat" = 401 ] && [ "$metrics" = 1 ] && [ $rc = 0 ]; then
            pass "image: default config serves /livez and /readyz on :3000, /metrics on :9090," \
                "proxy routes 401, exits 0 on SIGTERM"
        else
            fail "image: default config: readyz $ready, chat $chat, build_info lines $metrics," \
                "exit $rc"
            show "$log"
        fi
    else
        fail "image: default config never served http://127.0.0.1:3000/livez"
        show "$log"
        stop
    fi
fi

echo "$passed passed, $failed failed"
[ $failed = 0 ]
