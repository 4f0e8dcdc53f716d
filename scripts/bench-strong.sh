#!/usr/bin/env bash
# bench-strong.sh: Pando's strong (Raft, linearizable) namespaces beside
# etcd 3.6, both as 3-node clusters on loopback, in one run: puts and
# linearizable reads of 100-byte values at each client count, then a table
# of throughput, the Pando/etcd ratio and p99 latency.
#
# Pando: `pando dev` (three nodes), a namespace created with --model strong,
# loaded by `pando bench --ns`. etcd: three members of the version pinned in
# bench/etcd/go.mod, default settings (every write fsync'd, as Pando does)
# but a larger backend quota, loaded by bench/etcd's etcdload (its
# requesters spread over 8 client connections, each to all three members;
# gets are linearizable, etcd's default). Both are preloaded with every key
# before the first row, so reads find values. A row whose load generator
# reports errors or no throughput is printed in full on stderr.
#
# Settings (environment): DURATION=20s WARMUP=2s CLIENTS="100 1000"
# KEYS=100000 VALUE=100 CLUSTER=1 (pando bench --cluster: each key to its
# slot's master, the partition's usual Raft leader; 0 spreads connections
# over the nodes) BASE_PORT=27000 (uses BASE_PORT .. BASE_PORT+40).
# Needs redis-cli (the preload of Pando) and curl.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-2s}
CLIENTS=${CLIENTS:-100 1000}
KEYS=${KEYS:-100000}
VALUE=${VALUE:-100}
CLUSTER=${CLUSTER:-1}
BASE=${BASE_PORT:-27000}
NS=strongbench

for tool in redis-cli curl; do
	command -v "$tool" >/dev/null || { echo "bench-strong.sh: needs $tool" >&2; exit 1; }
done

WORK=$(mktemp -d)
PIDS=()
# stop_all stops every process started so far (SIGINT, then SIGKILL after
# 10 s), and forgets them.
stop_all() {
	local p
	for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	PIDS=()
}
cleanup() {
	stop_all
	rm -rf "$WORK"
}
trap cleanup EXIT

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit+=" with uncommitted changes"
echo "bench-strong.sh: building pando, etcd and etcdload ..." >&2
go build -o "$WORK/pando" ./cmd/pando
(cd bench/etcd && go build -o "$WORK/" ./cmd/etcd ./cmd/etcdload)
P="$WORK/pando"

wait_for() { # what, command...
	local what=$1
	shift
	for _ in $(seq 600); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "bench-strong.sh: $what did not become ready" >&2
	exit 1
}

# row_of file op -> "ops p99 errors" of one load run (printed in full on
# stderr just before), with a warning when it had errors or no throughput.
row_of() {
	local ops p99 errs
	read -r ops p99 < <(awk -v want="$2" '$1==want {print $2, $4}' "$1")
	errs=$(awk '$1=="errors:" {print $2}' "$1")
	if [ -z "${ops:-}" ] || [ "${ops%.*}" = 0 ] || [ "${errs:-0}" != 0 ]; then
		echo "bench-strong.sh: WARNING: the run above had errors or no throughput" >&2
	fi
	echo "${ops:-0} ${p99:--} ${errs:-?}"
}

declare -A OPS P99 ERRS

# ---- Pando ----
echo "bench-strong.sh: Pando, three nodes ..." >&2
"$P" dev --data-dir "$WORK/pando-data" --resp-port "$BASE" --http-port $((BASE + 3)) \
	--cluster-port $((BASE + 6)) --gossip-port $((BASE + 9)) >"$WORK/pando-dev.log" 2>&1 &
PIDS+=($!)
for i in 0 1 2; do wait_for "Pando node $((i + 1))" curl -sf "http://127.0.0.1:$((BASE + 3 + i))/readyz"; done
# The nodes too, so that none outlives the script even if dev is killed.
mapfile -t nodes < <(pgrep -P "${PIDS[0]}")
PIDS+=("${nodes[@]}")
"$P" --http "127.0.0.1:$((BASE + 3))" ns create "$NS" --model strong >&2
probe() { [ "$(printf 'NAMESPACE %s\nSET bench:probe x\n' "$NS" | redis-cli -p "$BASE" 2>&1 | tail -1)" = OK ]; }
wait_for "a SET through strong namespace $NS" probe
PADDRS="127.0.0.1:$BASE,127.0.0.1:$((BASE + 1)),127.0.0.1:$((BASE + 2))"
ROUTE=()
[ "$CLUSTER" = 1 ] && ROUTE=(--cluster)

# Preload: every key once, in RESP over redis-cli --pipe, one stream per
# node, each a third of the keys. SET is idempotent: a stream that met an
# error (a partition still electing) is sent again.
echo "bench-strong.sh: Pando: preloading $KEYS keys ..." >&2
start=$(date +%s.%N)
for i in 0 1 2; do
	awk -v ns="$NS" -v keys="$KEYS" -v size="$VALUE" -v part="$i" 'BEGIN {
		v = sprintf("%" size "s", ""); gsub(/ /, "x", v)
		printf "*2\r\n$9\r\nNAMESPACE\r\n$%d\r\n%s\r\n", length(ns), ns
		for (k = part; k < keys; k += 3) {
			key = "key:" k
			printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(key), key, length(v), v
		}
	}' >"$WORK/preload.$i"
done
for attempt in 1 2 3; do
	PRE=()
	for i in 0 1 2; do
		redis-cli -p $((BASE + i)) --pipe <"$WORK/preload.$i" >"$WORK/preload.$i.out" 2>&1 &
		PRE+=($!)
	done
	ok=1
	for i in 0 1 2; do
		wait "${PRE[$i]}" && grep -q 'errors: 0,' "$WORK/preload.$i.out" || ok=0
	done
	[ "$ok" = 1 ] && break
	echo "bench-strong.sh: Pando preload, attempt $attempt, met errors:" >&2
	cat "$WORK"/preload.*.out >&2
	[ "$attempt" = 3 ] && exit 1
	sleep 2
done
echo "bench-strong.sh: Pando: preloaded in $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1fs", e - s}')" >&2

for c in $CLIENTS; do
	for reads in 0 1; do
		out="$WORK/pando.$c.$reads"
		echo "bench-strong.sh: Pando: --clients $c --reads $reads ..." >&2
		"$P" bench --addr "$PADDRS" "${ROUTE[@]}" --ns "$NS" --clients "$c" --keys "$KEYS" \
			--value-size "$VALUE" --reads "$reads" --duration "$DURATION" --warmup "$WARMUP" >"$out"
		cat "$out" >&2
		read -r "OPS[pando.$c.$reads]" "P99[pando.$c.$reads]" "ERRS[pando.$c.$reads]" < <(row_of "$out" "$([ "$reads" = 1 ] && echo get || echo set)")
	done
done
stop_all

# ---- etcd ----
echo "bench-strong.sh: etcd, three members ..." >&2
EB=$((BASE + 20))
cluster=""
for i in 0 1 2; do cluster+="${cluster:+,}m$i=http://127.0.0.1:$((EB + 10 + i))"; done
for i in 0 1 2; do
	"$WORK/etcd" --name "m$i" --data-dir "$WORK/etcd-data/m$i" \
		--listen-client-urls "http://127.0.0.1:$((EB + i))" --advertise-client-urls "http://127.0.0.1:$((EB + i))" \
		--listen-peer-urls "http://127.0.0.1:$((EB + 10 + i))" --initial-advertise-peer-urls "http://127.0.0.1:$((EB + 10 + i))" \
		--initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token strongbench \
		--quota-backend-bytes $((8 << 30)) --log-level warn >"$WORK/etcd.$i.log" 2>&1 &
	PIDS+=($!)
done
etcd_healthy() { curl -sf "http://127.0.0.1:$1/health" | grep -q '"health":"true"'; }
for i in 0 1 2; do wait_for "etcd member m$i" etcd_healthy $((EB + i)); done
EADDRS="127.0.0.1:$EB,127.0.0.1:$((EB + 1)),127.0.0.1:$((EB + 2))"
echo "bench-strong.sh: etcd: preloading $KEYS keys ..." >&2
"$WORK/etcdload" --endpoints "$EADDRS" --clients 100 --keys "$KEYS" --value-size "$VALUE" \
	--preload --duration 0 >&2
for c in $CLIENTS; do
	for reads in 0 1; do
		out="$WORK/etcd.$c.$reads"
		echo "bench-strong.sh: etcd: --clients $c --reads $reads ..." >&2
		"$WORK/etcdload" --endpoints "$EADDRS" --clients "$c" --keys "$KEYS" --value-size "$VALUE" \
			--reads "$reads" --duration "$DURATION" --warmup "$WARMUP" >"$out"
		cat "$out" >&2
		read -r "OPS[etcd.$c.$reads]" "P99[etcd.$c.$reads]" "ERRS[etcd.$c.$reads]" < <(row_of "$out" "$([ "$reads" = 1 ] && echo get || echo set)")
	done
done
stop_all

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
printf '\n| workload | clients | Pando ops/s | etcd ops/s | Pando / etcd | Pando p99 | etcd p99 | errors (Pando, etcd) |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for reads in 0 1; do
	for c in $CLIENTS; do
		k=$c.$reads
		printf '| %s | %s | %s | %s | %s | %s | %s | %s, %s |\n' "$([ "$reads" = 1 ] && echo 'reads (linearizable)' || echo writes)" "$c" \
			"${OPS[pando.$k]}" "${OPS[etcd.$k]}" "$(ratio "${OPS[pando.$k]}" "${OPS[etcd.$k]}")" "${P99[pando.$k]}" "${P99[etcd.$k]}" \
			"${ERRS[pando.$k]}" "${ERRS[etcd.$k]}"
	done
done
printf '\ncommand: pando bench --ns %s%s / etcdload, --keys %s --value-size %s --duration %s --warmup %s (writes: --reads 0, reads: --reads 1)\n' \
	"$NS" "$([ "$CLUSTER" = 1 ] && echo ' --cluster')" "$KEYS" "$VALUE" "$DURATION" "$WARMUP"
printf 'Pando %s; etcd %s; nproc: %s; %s\n' "$commit" "$(awk '$1=="go.etcd.io/etcd/server/v3" {print $2}' bench/etcd/go.mod)" "$(nproc)" "$(date -u '+%Y-%m-%d %H:%M UTC')"
