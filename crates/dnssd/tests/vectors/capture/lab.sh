#!/bin/bash
# usage: lab.sh up | down
set -e
case "$1" in
up)
  ip netns add capbr
  ip -n capbr link add br0 type bridge mcast_snooping 0
  ip -n capbr link set br0 up
  n=4
  for h in d p q; do
    ip netns add cap$h
    ip link add vcap${h}i netns cap$h type veth peer name vcap${h}o netns capbr
    ip -n capbr link set vcap${h}o master br0
    ip -n capbr link set vcap${h}o up
    ip -n cap$h link set vcap${h}i name eth0
    ip -n cap$h addr add 10.84.0.$n/24 dev eth0
    ip -n cap$h link set eth0 up
    ip -n cap$h link set lo up
    ip -n cap$h route add 224.0.0.0/4 dev eth0
    n=$((n+1))
  done
  ;;
down)
  for h in br d p q; do ip netns del cap$h 2>/dev/null || true; done
  ;;
esac
