#!/usr/bin/env bash
# failover.sh with network partitions: the tail, then the middle, then the
# head is cut off from the other nodes, etcd and the clients (nftables, in a
# network namespace the test makes; every node and etcd member on an address
# of its own) for longer than its lease, then healed.  The cut node keeps
# running: it must fence itself and answer nothing from its old role, the
# chain must go on without it, and once healed it must rejoin as the tail.
# The clients' connections to it hang rather than close, as in a real
# partition.  Same checks as failover.sh: linearizable history, no stale or
# missing handoff round, no acknowledged write lost, replicas agree.
CHAINFS_TEST_NAME=partition \
	FAILOVER_FAULTS="${FAILOVER_FAULTS:-partition:tail partition:middle partition:head}" \
	exec bash "${srcdir:-.}/tests/cluster/failover.sh" "$@"
