#!/usr/bin/env bash
# bench-cluster.sh: Pando's load generator against one node and against a
# 3-node cluster on loopback, in one run, with the cluster/single ratios.
#
# Settings (environment): DURATION=8s CLIENTS=50 KEYS=100000 VALUE=100
# BASE_PORT=26000 (the cluster uses BASE_PORT.. BASE_PORT+20).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-8s}
CLIENTS=${CLIENTS:-50}
KEYS=${KEYS:-100000}
VALUE=${VALUE:-100}
BASE=${BASE_PORT:-26000}

WORK=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

go build -o "$WORK/pando" ./cmd/pando
P="$WORK/pando"

wait_ready() { # http-addr
	for _ in $(seq 300); do
		curl -sf "http://$1/readyz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "bench-cluster.sh: node at $1 did not become ready" >&2
	exit 1
}

bench() { # label addrs reads consistency -> prints "ops p50 p99"
	"$P" bench --addr "$2" --clients "$CLIENTS" --keys "$KEYS" --value-size "$VALUE" \
		--reads "$3" --consistency "$4" --duration "$DURATION" |
		awk -v want="$( [ "$3" = 1 ] && echo get || echo set )" '$1==want {print $2, $3, $4}'
}

echo "bench-cluster.sh: one node ..." >&2
"$P" server --data-dir "$WORK/single" --resp-addr "127.0.0.1:$BASE" --http-addr "127.0.0.1:$((BASE + 1))" \
	--cluster-addr "127.0.0.1:$((BASE + 2))" --gossip-addr "127.0.0.1:$((BASE + 3))" --log-level warn &
PIDS+=($!)
wait_ready "127.0.0.1:$((BASE + 1))"
read -r sw sw50 sw99 < <(bench single "127.0.0.1:$BASE" 0 quorum)
read -r sr sr50 sr99 < <(bench single "127.0.0.1:$BASE" 1 quorum)
kill -INT "${PIDS[0]}"; wait "${PIDS[0]}" || true
PIDS=()

echo "bench-cluster.sh: three nodes ..." >&2
"$P" dev --data-dir "$WORK/cluster" --resp-port $((BASE + 10)) --http-port $((BASE + 13)) \
	--cluster-port $((BASE + 16)) --gossip-port $((BASE + 19)) >"$WORK/dev.log" 2>&1 &
PIDS+=($!)
for i in 0 1 2; do wait_ready "127.0.0.1:$((BASE + 13 + i))"; done
ADDRS="127.0.0.1:$((BASE + 10)),127.0.0.1:$((BASE + 11)),127.0.0.1:$((BASE + 12))"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
printf '| workload | ops/s | p50 | p99 | vs one node |\n|---|---|---|---|---|\n'
printf '| 1 node, writes (N=1) | %s | %s | %s | 1.00x |\n' "$sw" "$sw50" "$sw99"
printf '| 1 node, reads (N=1) | %s | %s | %s | 1.00x |\n' "$sr" "$sr50" "$sr99"
for lvl in one quorum all; do
	read -r w w50 w99 < <(bench cluster "$ADDRS" 0 "$lvl")
	printf '| 3 nodes, writes at %s (N=3) | %s | %s | %s | %s |\n' "$lvl" "$w" "$w50" "$w99" "$(ratio "$w" "$sw")"
done
for lvl in one quorum; do
	read -r r r50 r99 < <(bench cluster "$ADDRS" 1 "$lvl")
	printf '| 3 nodes, reads at %s (N=3) | %s | %s | %s | %s |\n' "$lvl" "$r" "$r50" "$r99" "$(ratio "$r" "$sr")"
done
printf '\ncommand: pando bench --clients %s --keys %s --value-size %s --duration %s (writes: --reads 0, reads: --reads 1)\n' "$CLIENTS" "$KEYS" "$VALUE" "$DURATION"
printf 'targets: QUORUM writes >= 0.5x one node; reads at ONE >= 0.7x one node. nproc: %s; %s\n' "$(nproc)" "$(date -u '+%Y-%m-%d %H:%M UTC')"
