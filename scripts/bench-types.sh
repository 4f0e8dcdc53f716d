#!/usr/bin/env bash
# bench-types.sh: redis-benchmark's INCR, SADD and HSET against a 3-node
# Pando cluster (counter, set and map namespaces) and against Redis (fsync'd
# append-only file, and in memory), one after another, on loopback.
#
# redis-benchmark picks the namespace by number (--dbnum): the script
# creates the three namespaces and reads their numbers from pando ns list.
# Its SADD and HSET write one key each ("myset", "myhash"), a hot key whose
# set or map grows with every new member.
#
# Settings (environment): N=10000 requests per test, C=50 connections,
# KEYSPACE=100000 (-r), BASE_PORT=25000.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-10000}
C=${C:-50}
KEYSPACE=${KEYSPACE:-100000}
BASE=${BASE_PORT:-25000}

for t in redis-server redis-benchmark; do
	command -v "$t" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq redis-server redis-tools >&2; }
done

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

rate() { # port dbnum test -> requests per second
	redis-benchmark -p "$1" --dbnum "$2" -t "$3" -n "$N" -c "$C" -r "$KEYSPACE" -q 2>/dev/null |
		tr '\r' '\n' | awk -F': ' '/requests per second/ { split($2, a, " "); v = a[1] } END { print v }'
}

declare -A R
for mode in durable memory; do
	port=$((BASE + 50))
	args=(--port "$port" --save '' --dir "$WORK" --dbfilename "$mode.rdb")
	[ "$mode" = durable ] && args+=(--appendonly yes --appendfsync always --appendfilename "$mode.aof")
	redis-server "${args[@]}" >"$WORK/redis-$mode.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
	for t in incr sadd hset; do R[$mode,$t]=$(rate "$port" 0 "$t"); done
	kill "$pid"; wait "$pid" 2>/dev/null || true
done

"$P" dev --data-dir "$WORK/data" --resp-port "$BASE" --http-port $((BASE + 3)) \
	--cluster-port $((BASE + 6)) --gossip-port $((BASE + 9)) >"$WORK/dev.log" 2>&1 &
PIDS+=($!)
for i in 0 1 2; do
	for try in $(seq 600); do
		curl -sf "http://127.0.0.1:$((BASE + 3 + i))/readyz" >/dev/null 2>&1 && break
		[ "$try" = 600 ] && { echo "bench-types.sh: node $((i + 1)) not ready after 60 s:" >&2; tail -20 "$WORK/dev.log" >&2; exit 1; }
		sleep 0.1
	done
done
export PANDO_HTTP=127.0.0.1:$((BASE + 3))
"$P" ns create hits --type counter >/dev/null
"$P" ns create tags --type set >/dev/null
"$P" ns create users --type map >/dev/null
db() { "$P" ns list | awk -v ns="$1" '$1 == ns { print $2 }'; }
declare -A NS=([incr]=hits [sadd]=tags [hset]=users)
printf '| test | namespace | pando 3 nodes ops/s | redis durable ops/s | redis memory ops/s | pando / durable | pando / memory |\n|---|---|---|---|---|---|---|\n'
for t in incr sadd hset; do
	p=$(rate "$BASE" "$(db "${NS[$t]}")" "$t")
	printf '| %s | %s | %s | %s | %s | %s | %s |\n' "${t^^}" "${NS[$t]}" "$p" "${R[durable,$t]}" "${R[memory,$t]}" \
		"$(awk -v a="$p" -v b="${R[durable,$t]}" 'BEGIN { printf "%.2fx", a / b }')" \
		"$(awk -v a="$p" -v b="${R[memory,$t]}" 'BEGIN { printf "%.2fx", a / b }')"
done
printf '\ncommand: redis-benchmark -t TEST -n %s -c %s -r %s -q (--dbnum: the namespace), through the first node; nproc %s; %s\n' \
	"$N" "$C" "$KEYSPACE" "$(nproc)" "$(date -u '+%Y-%m-%d %H:%M UTC')"
