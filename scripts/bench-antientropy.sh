#!/usr/bin/env bash
# bench-antientropy.sh: what anti-entropy does and costs, on three nodes on
# loopback, in one run:
#
#   1. converge: n3 is killed (SIGKILL) while DIVERGE distinct keys are
#      written through n1, on nodes that keep no hints and repair nothing
#      on reads; then n3 restarts and the time until every partition of n3
#      is in sync again (pando status) is anti-entropy's alone.
#   2. cost: QUORUM writes (pando bench) with anti-entropy rounds every
#      COST_INTERVAL against anti-entropy off, alternating, ROUNDS times
#      each.
#   3. purge: PURGE keys written and deleted; the nodes' disk use before
#      and after their tombstones are purged (grace 1s) and compacted.
#
# Settings (environment): DIVERGE=10000 INTERVAL=10s (the default round
# interval, for step 1) COST_INTERVAL=10s ROUNDS=2 DURATION=8s CLIENTS=50
# PURGE=1000000
# STEPS="converge cost purge" BASE_PORT=27000.
# Needs redis-cli (apt-get install -y redis-tools).
set -euo pipefail
cd "$(dirname "$0")/.."

DIVERGE=${DIVERGE:-10000}
INTERVAL=${INTERVAL:-10s}
COST_INTERVAL=${COST_INTERVAL:-10s}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-8s}
CLIENTS=${CLIENTS:-50}
PURGE=${PURGE:-1000000}
STEPS=${STEPS:-converge cost purge}
BASE=${BASE_PORT:-27000}

command -v redis-cli >/dev/null || { echo "bench-antientropy.sh: needs redis-cli (apt-get install -y redis-tools)" >&2; exit 1; }

WORK=$(mktemp -d)
declare -A PID
cleanup() {
	for p in "${PID[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	for p in "${PID[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

go build -o "$WORK/pando" ./cmd/pando
P="$WORK/pando"

resp() { echo "127.0.0.1:$((BASE + 4 * ($1 - 1)))"; }
http() { echo "127.0.0.1:$((BASE + 4 * ($1 - 1) + 1))"; }
JOIN="127.0.0.1:$((BASE + 3)),127.0.0.1:$((BASE + 7)),127.0.0.1:$((BASE + 11))"
FLAGS=()

start() { # node-number: starts node i of the cluster on $WORK/dataN with FLAGS
	local i=$1
	"$P" server --node-id "n$i" --data-dir "$WORK/data$i" --resp-addr "$(resp "$i")" --http-addr "$(http "$i")" \
		--cluster-addr "127.0.0.1:$((BASE + 4 * (i - 1) + 2))" --gossip-addr "127.0.0.1:$((BASE + 4 * (i - 1) + 3))" \
		--join "$JOIN" --gossip-profile local --log-level warn "${FLAGS[@]}" >>"$WORK/n$i.log" 2>&1 &
	PID[$i]=$!
}

wait_ready() { # node-number
	for _ in $(seq 600); do
		curl -sf "http://$(http "$1")/readyz" >/dev/null 2>&1 && return 0
		sleep 0.1 # polling the node's readiness
	done
	echo "bench-antientropy.sh: n$1 did not become ready; its log:" >&2
	tail -20 "$WORK/n$1.log" >&2
	exit 1
}

cluster() { # starts three fresh nodes with FLAGS
	stop_all
	rm -rf "$WORK"/data*
	for i in 1 2 3; do start "$i"; done
	for i in 1 2 3; do wait_ready "$i"; done
}

stop_all() {
	for i in "${!PID[@]}"; do kill -INT "${PID[$i]}" 2>/dev/null || true; wait "${PID[$i]}" 2>/dev/null || true; done
	PID=()
}

metric_sum() { # node-number metric-name
	curl -sf "http://$(http "$1")/metrics" | awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $2 } END { printf "%d", s }'
}

# pipe_keys VERB FROM COUNT: VERB (SET or DEL) keys kFROM.. as RESP, for redis-cli --pipe.
pipe_keys() {
	awk -v verb="$1" -v from="$2" -v n="$3" 'BEGIN {
		for (i = from; i < from + n; i++) {
			k = "k" i
			if (verb == "SET") printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(k), k
			else printf "*2\r\n$3\r\nDEL\r\n$%d\r\n%s\r\n", length(k), k
		}
	}'
}

# pipe VERB COUNT: VERB keys k0..k(COUNT-1) through the three nodes in
# turn, 5,000 a call, 6 calls at a time (a DEL at QUORUM waits for its
# read and its replicas; one connection would run them one by one).
pipe() {
	local n=0 calls=()
	for ((from = 0; from < $2; from += 5000)); do
		pipe_keys "$1" "$from" "$(($2 - from < 5000 ? $2 - from : 5000))" |
			redis-cli -h 127.0.0.1 -p "$((BASE + 4 * (n % 3)))" --pipe >/dev/null &
		calls+=($!)
		n=$((n + 1))
		if ((n % 6 == 0)); then wait "${calls[@]}"; calls=(); fi
	done
	if ((${#calls[@]} > 0)); then wait "${calls[@]}"; fi
}

now_ms() { date +%s%3N; }

# disk restarts the three nodes (which flushes what their logs hold into
# tables) and sets DISK to the KiB of their tables (*.sst), all three
# together. Not in a subshell: it starts the nodes.
disk() {
	for i in 1 2 3; do kill -INT "${PID[$i]}"; wait "${PID[$i]}" 2>/dev/null || true; start "$i"; done
	for i in 1 2 3; do wait_ready "$i"; done
	DISK=$(find "$WORK"/data1 "$WORK"/data2 "$WORK"/data3 -name '*.sst' -printf '%s\n' | awk '{ s += $1 } END { printf "%d", s / 1024 }')
}

if [[ " $STEPS " == *" converge "* ]]; then
	echo "bench-antientropy.sh: converge ($DIVERGE keys, rounds every $INTERVAL) ..." >&2
	FLAGS=(--read-repair=false --hint-max-bytes=1 --anti-entropy-interval "$INTERVAL")
	cluster
	kill -KILL "${PID[3]}"; wait "${PID[3]}" 2>/dev/null || true; unset 'PID[3]'
	pipe SET "$DIVERGE"
	start 3
	t0=$(now_ms)
	wait_ready 3
	for _ in $(seq 6000); do
		since=$(curl -sf "http://$(http 3)/v1/status" | python3 -c 'import json,sys,datetime
ae = json.load(sys.stdin).get("anti_entropy") or {}
t = ae.get("oldest_sync", "")
ok = ae.get("partitions") and not t.startswith("0001")
print(datetime.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000 if ok else 0)')
		if [ "${since%.*}" -gt "$t0" ]; then break; fi
		sleep 0.1 # polling n3's status
	done
	t1=$(now_ms)
	repaired=0; moved=0
	for i in 1 2 3; do
		repaired=$((repaired + $(metric_sum "$i" pando_antientropy_records_repaired_total)))
		moved=$((moved + $(metric_sum "$i" pando_antientropy_bytes_total)))
	done
	printf '| converge | %d keys written while n3 was down, no hints, no read repair | n3 in sync %.1f s after its restart | %d records repaired, %d bytes moved (all nodes) |\n' \
		"$DIVERGE" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1000 }')" "$repaired" "$moved"
fi

bench() { # -> "ops p50 p99"
	"$P" bench --addr "$(resp 1),$(resp 2),$(resp 3)" --clients "$CLIENTS" --keys 100000 --value-size 100 \
		--reads 0 --consistency quorum --duration "$DURATION" | awk '$1 == "set" { print $2, $3, $4 }'
}

if [[ " $STEPS " == *" cost "* ]]; then
	echo "bench-antientropy.sh: cost ($ROUNDS rounds of $DURATION each way) ..." >&2
	for r in $(seq "$ROUNDS"); do
		FLAGS=(--anti-entropy=false); cluster
		read -r off off50 off99 < <(bench)
		FLAGS=(--anti-entropy-interval "$COST_INTERVAL"); cluster
		read -r on on50 on99 < <(bench)
		pulled=0
		for i in 1 2 3; do pulled=$((pulled + $(metric_sum "$i" pando_antientropy_records_repaired_total))); done
		printf '| cost, round %d | QUORUM writes/s off %s (p99 %s), on %s (p99 %s; %d records pulled) | %s |\n' "$r" "$off" "$off99" "$on" "$on99" "$pulled" \
			"$(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.2fx", a / b }')"
	done
fi

if [[ " $STEPS " == *" purge "* ]]; then
	echo "bench-antientropy.sh: purge ($PURGE keys written, then deleted) ..." >&2
	# Written and deleted with anti-entropy off, so that the disk can be
	# measured with every tombstone; then on, with a grace of one second.
	FLAGS=(--anti-entropy=false)
	cluster
	pipe SET "$PURGE"
	disk
	written=$DISK
	pipe DEL "$PURGE"
	disk
	deleted=$DISK
	FLAGS=(--request-timeout 1s --hint-max-age 1s --tombstone-grace 1s --anti-entropy-interval 1s)
	t0=$(now_ms)
	disk
	for _ in $(seq 3000); do
		purged=0
		for i in 1 2 3; do purged=$((purged + $(metric_sum "$i" pando_tombstones_purged_total))); done
		[ "$purged" -ge $((3 * PURGE)) ] && break
		sleep 0.2 # polling the purge counters
	done
	t1=$(now_ms)
	disk
	after=$DISK
	printf '| purge | %d keys on 3 replicas: %d KiB of tables once written, %d KiB once deleted | %d tombstones purged %.1f s after the nodes started with anti-entropy | %d KiB once purged |\n' \
		"$PURGE" "$written" "$deleted" "$purged" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1000 }')" "$after"
fi
printf '\nnproc: %s; %s\n' "$(nproc)" "$(date -u '+%Y-%m-%d %H:%M UTC')"
