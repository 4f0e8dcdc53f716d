#!/usr/bin/env bash
# bench-move.sh: grow a loaded 3-node cluster to 4 and time the move.
#
# Loads SIZE_MB of values (VALUE bytes each, through redis-cli --pipe) into
# a 3-node cluster on loopback, starts a fourth node, then stages its join,
# commits and waits for the move, with the copy throttle at THROTTLE
# (bytes per second per receiving node; 0: none) while `pando bench` keeps
# QUORUM reads and writes going. Prints the move's time and throughput and
# the foreground p99 before, during and after the move (right after the
# load, "before" also pays for the compaction of what was just loaded).
#
# Settings (environment): SIZE_MB=1024 VALUE=4096 THROTTLE=0 CLIENTS=20
# BASE_PORT=26200 (the nodes use BASE_PORT .. BASE_PORT+15).
# Needs redis-cli (apt-get install -y redis-tools) and about 4 x SIZE_MB of
# free disk under TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=${SIZE_MB:-1024}
VALUE=${VALUE:-4096}
THROTTLE=${THROTTLE:-0}
CLIENTS=${CLIENTS:-20}
BASE=${BASE_PORT:-26200}
KEYS=$((SIZE_MB * 1024 * 1024 / VALUE))

command -v redis-cli >/dev/null || { echo "bench-move.sh: needs redis-cli (apt-get install -y redis-tools)" >&2; exit 1; }
WORK=$(mktemp -d)
PIDS=()
stop_nodes() {
	for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	PIDS=()
}
trap 'stop_nodes; rm -rf "$WORK"' EXIT

go build -o "$WORK/pando" ./cmd/pando
P="$WORK/pando"
JOIN="127.0.0.1:$((BASE + 3)),127.0.0.1:$((BASE + 7)),127.0.0.1:$((BASE + 11))"
start_node() { # index [flags...]
	local i=$1; shift
	local b=$((BASE + 4 * i))
	"$P" server --node-id "n$((i + 1))" --data-dir "$WORK/n$i" --resp-addr "127.0.0.1:$b" --http-addr "127.0.0.1:$((b + 1))" \
		--cluster-addr "127.0.0.1:$((b + 2))" --gossip-addr "127.0.0.1:$((b + 3))" --join "$JOIN" \
		--gossip-profile local --log-level warn "$@" 2>>"$WORK/n$i.log" &
	PIDS+=($!)
}
ready() { # index
	for _ in $(seq 600); do
		curl -sf "http://127.0.0.1:$((BASE + 4 * $1 + 1))/readyz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "bench-move.sh: node $1 not ready (log: $WORK/n$1.log)" >&2
	exit 1
}
for i in 0 1 2; do start_node "$i" --bootstrap-expect 3; done
for i in 0 1 2; do ready "$i"; done
export PANDO_HTTP="127.0.0.1:$((BASE + 1))"

echo "loading $KEYS keys of $VALUE bytes ($SIZE_MB MiB) through n1"
t0=$(date +%s.%N)
python3 - "$KEYS" "$VALUE" <<'EOF' | redis-cli -p "$BASE" --pipe >/dev/null
import os, sys
keys, size = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout.buffer
for i in range(keys):
    k = b"k:%d" % i
    val = os.urandom(size)  # incompressible, as most stored data is
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, size, val))
EOF
t1=$(date +%s.%N)
echo "loaded in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s"

start_node 3 # a candidate until joined
for _ in $(seq 300); do "$P" status 2>/dev/null | grep -Eq '^n4 +up +candidate' && break; sleep 0.1; done
"$P" cluster throttle "$THROTTLE" >/dev/null

foreground() { # duration: QUORUM reads and writes, half each, to stdout
	exec "$P" bench --addr "127.0.0.1:$BASE,127.0.0.1:$((BASE + 4)),127.0.0.1:$((BASE + 8))" --clients "$CLIENTS" \
		--keys "$KEYS" --value-size 100 --reads 0.5 --consistency quorum --duration "$1" --warmup 0s
}
summary() { awk '$1=="op" || $1=="get" || $1=="set" {print "  " $0}'; }
echo "foreground before the move (10 s):"
foreground 10s | summary

"$P" cluster join n4 >/dev/null
"$P" cluster plan | tail -1
foreground 3600s >"$WORK/fg.txt" & # ended by SIGINT once the move is done
FG=$!
t0=$(date +%s.%N)
"$P" cluster commit
"$P" cluster wait --timeout 30m | tail -1
t1=$(date +%s.%N)
kill -INT "$FG" 2>/dev/null || true
wait "$FG" 2>/dev/null || true
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
bytes=$(curl -s "http://127.0.0.1:$((BASE + 13))/metrics" | awk '$1=="pando_rebalance_bytes_total" {printf "%d", $2}')
echo "move: $bytes bytes to n4 in $secs s ($(awk -v b="$bytes" -v s="$secs" 'BEGIN {printf "%.1f", b / s / 1048576}') MiB/s), throttle $THROTTLE"
echo "foreground during the move:"
summary <"$WORK/fg.txt"
echo "foreground after the move (10 s):"
foreground 10s | summary
