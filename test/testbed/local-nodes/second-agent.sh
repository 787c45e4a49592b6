#!/usr/bin/env bash
# A second local-node agent running THIS checkout's agent code beside a shared testbed's own agent, so a
# checkout can test agent changes without restarting the shared one (README, local nodes):
#
#   JUDE_TESTBED_STATE_DIR=/path/to/shared/.testbed bash test/testbed/local-nodes/second-agent.sh up|down [PREFIX]
#
# Its nodes are <PREFIX>local-gpu-0 / <PREFIX>local-cpu-0 (PREFIX defaults to "second-"), labelled
# testbed.jude.dev/node=<PREFIX>local so nothing placed for the shared nodes lands there; tests select
# them with JUDE_LOCAL_NODE_PREFIX=<PREFIX>. The agent runs in a "node" network namespace of its own,
# attached to the shared bridge: inside it are its own bridge and pod range, its own Service listeners
# (no clash with the shared agent's on the same ClusterIPs), and the testbed's 127.0.0.1 ports reach the
# host through the shared agent's forwarders; JUDE_LOCAL_NODES_RUN_FROM=image makes it run every pod
# from the built image, as on `testbed up`. Its pod logs go to the shared log folder, so
# `npm run testbed -- logs` finds them. Needs root, jq, and the shared local-nodes component up.
set -euo pipefail
ACTION=${1:?usage: second-agent.sh up|down [PREFIX]}
PREFIX=${2:-second-}
CHECKOUT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
SHARED=${JUDE_TESTBED_STATE_DIR:?set JUDE_TESTBED_STATE_DIR to the shared testbed state dir}
# Laid out like a state dir, so `JUDE_TESTBED_STATE_DIR=$CHECKOUT/.scratch-local-nodes npm run testbed --
# status` lists the second agent's pods.
DIR=$CHECKOUT/.scratch-local-nodes/local-nodes
HASH=$(printf 'second:%s' "$CHECKOUT" | sha256sum | cut -c1-6)
TAG=s$(printf %s "$HASH" | cut -c1-5)
NODE_NS=jtb$TAG-node
# Pod range octets 210-249: never one a testbed's own plan picks (10-209).
OCTET=$((210 + 16#$HASH % 40))
POD_CIDR=10.97.$OCTET.0/24
GW=10.97.$OCTET.1
cfg=$SHARED/local-nodes/agent.json
[ -f "$cfg" ] || { echo "second-agent: no shared agent config at $cfg" >&2; exit 1; }
SBR=$(jq -r .plan.bridge "$cfg"); SGW=$(jq -r .plan.gateway "$cfg"); SPOD=$(jq -r .plan.podCidr "$cfg")
SVC=$(jq -r .plan.serviceCidr "$cfg")
# Its address on the shared bridge: high in the shared range, far from the slots the shared agent fills first.
NODE_IP=${SPOD%.0/24}.$((250 - 16#$HASH % 10))

case "$ACTION" in
up)
  mkdir -p "$DIR/launcher/bin"
  cp "$SHARED/local-nodes/launcher/bin/jude" "$DIR/launcher/bin/jude"
  ip netns add "$NODE_NS"
  ip link add "jtb${TAG}h" type veth peer name eth0 netns "$NODE_NS"
  ip link set "jtb${TAG}h" master "$SBR" up
  X=(ip netns exec "$NODE_NS")
  "${X[@]}" ip addr add "$NODE_IP/24" dev eth0
  "${X[@]}" ip link set lo up
  "${X[@]}" ip link set eth0 up
  # No pod traffic may leave the machine: the new pod range is unreachable from the host too.
  ip route add unreachable "$POD_CIDR" metric 4000 2>/dev/null || true
  "${X[@]}" sysctl -qw net.ipv4.conf.all.route_localnet=1 net.ipv4.conf.eth0.route_localnet=1
  for port in $(jq -r '.loopbackPorts[]' "$cfg"); do
    "${X[@]}" iptables -t nat -A OUTPUT -d 127.0.0.1/32 -p tcp --dport "$port" -j DNAT --to-destination "$SGW:$port"
  done
  "${X[@]}" iptables -t nat -A POSTROUTING -s 127.0.0.0/8 -o eth0 -j SNAT --to-source "$NODE_IP"
  # What setupHostNetwork does on the host, inside the node namespace.
  "${X[@]}" ip link add "jtb$TAG" type bridge
  # A fixed MAC, the one bridgeMac gives for this tag (see setupHostNetwork for why).
  "${X[@]}" ip link set dev "jtb$TAG" address \
    "$(printf %s "$TAG" | sha256sum | sed -E 's/^(..)(..)(..).*/02:6a:\1:\2:\3:01/')"
  "${X[@]}" ip addr add "$GW/24" dev "jtb$TAG"
  "${X[@]}" ip link set "jtb$TAG" up
  "${X[@]}" ip route add unreachable "$POD_CIDR" metric 4000
  "${X[@]}" ip route add unreachable "$SVC"
  "${X[@]}" ip route add local "$SVC" dev lo table local
  jq --arg dir "$DIR" --arg checkout "$CHECKOUT" --arg tag "$TAG" --arg pod "$POD_CIDR" --arg gw "$GW" \
    --arg prefix "$PREFIX" --arg runFrom "${JUDE_LOCAL_NODES_RUN_FROM:-checkout}" \
    '.dir=$dir | .runFrom=$runFrom | .plan.tag=$tag | .plan.bridge=("jtb"+$tag) | .plan.podCidr=$pod | .plan.gateway=$gw
     | .nodePrefix=$prefix | .baseMounts[0].source=($dir+"/launcher/bin") | .baseMounts[2].source=$checkout' \
    "$cfg" >"$DIR/agent.json"
  NODE=$(jq -r '.baseMounts[1].source' "$cfg")/bin/node
  nsenter --net="/run/netns/$NODE_NS" setsid "$NODE" "$CHECKOUT/test/testbed/local-nodes/agent-main.ts" \
    "$DIR/agent.json" >"$DIR/agent.log" 2>&1 </dev/null &
  echo $! >"$DIR/agent.pid"
  echo "second agent pid $(cat "$DIR/agent.pid"), nodes ${PREFIX}local-gpu-0 ${PREFIX}local-cpu-0, log $DIR/agent.log"
  ;;
down)
  pid=$(cat "$DIR/agent.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    # The agent stops its pods and removes its nodes; wait for it like the component's stop does.
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  fi
  for ns in $(ip netns list | awk '{print $1}' | grep "^jtb$TAG-" || true); do
    for p in $(ip netns pids "$ns"); do kill -KILL "$p" 2>/dev/null || true; done
    ip netns delete "$ns" || true
  done
  ip link delete "jtb${TAG}h" 2>/dev/null || true
  ip route del unreachable "$POD_CIDR" metric 4000 2>/dev/null || true
  rm -f "$DIR/agent.pid"
  ;;
*) echo "usage: second-agent.sh up|down [PREFIX]" >&2; exit 2 ;;
esac
