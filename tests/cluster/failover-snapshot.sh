#!/usr/bin/env bash
# failover.sh with a log of 20 entries on every node: a killed node misses
# more than that under load, so each rejoin streams a snapshot of the tail's
# store while the tail keeps serving.
FAILOVER_RETAIN=20 FAILOVER_FAULTS="${FAILOVER_FAULTS:-kill:head kill:tail stop:middle stop:head}" exec bash "${srcdir:-.}/tests/cluster/failover.sh" "$@"
