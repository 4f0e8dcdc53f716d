#!/usr/bin/env bash
# bench-compare.sh: the working tree against another revision, on a
# `pando dev` cluster each (3 nodes, or NODES), alternating runs in one
# sitting so that both see the same machine.
#
# Usage: scripts/bench-compare.sh [REV]   (default HEAD~1)
# Settings (environment): ROUNDS=2 DURATION=8s CLIENTS=50 READS=0 (0: writes,
# 1: reads) CONSISTENCY=quorum NODES=3 BASE_PORT=27000 (each cluster takes
# 4 x NODES ports).
set -euo pipefail
cd "$(dirname "$0")/.."

REV=${1:-HEAD~1}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-8s}
CLIENTS=${CLIENTS:-50}
READS=${READS:-0}
CONSISTENCY=${CONSISTENCY:-quorum}
NODES=${NODES:-3}
BASE=${BASE_PORT:-27000}

WORK=$(mktemp -d)
cleanup() {
	git worktree remove --force "$WORK/old" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

git worktree add -q --detach "$WORK/old" "$REV"
(cd "$WORK/old" && go build -o "$WORK/pando-old" ./cmd/pando)
go build -o "$WORK/pando-new" ./cmd/pando

run() { # binary base-port -> prints the bench line
	local p=$1 base=$2 dir
	dir=$(mktemp -d -p "$WORK")
	"$p" dev --nodes "$NODES" --data-dir "$dir" --resp-port "$base" --http-port $((base + NODES)) \
		--cluster-port $((base + 2 * NODES)) --gossip-port $((base + 3 * NODES)) >"$dir/dev.log" 2>&1 &
	local pid=$! addrs=""
	for i in $(seq 0 $((NODES - 1))); do
		for _ in $(seq 300); do
			curl -sf "http://127.0.0.1:$((base + NODES + i))/readyz" >/dev/null 2>&1 && break
			sleep 0.1
		done
		addrs="$addrs${addrs:+,}127.0.0.1:$((base + i))"
	done
	"$p" bench --addr "$addrs" \
		--clients "$CLIENTS" --keys 100000 --value-size 100 --reads "$READS" \
		--consistency "$CONSISTENCY" --duration "$DURATION" |
		awk -v want="$([ "$READS" = 1 ] && echo get || echo set)" '$1==want {print $2, $3, $4}'
	kill -INT "$pid"
	wait "$pid" 2>/dev/null || true
}

printf '| round | %s ops/s | p50 | p99 | working tree ops/s | p50 | p99 | ratio |\n|---|---|---|---|---|---|---|---|\n' "$(git rev-parse --short "$REV")"
for r in $(seq "$ROUNDS"); do
	read -r o o50 o99 < <(run "$WORK/pando-old" "$BASE")
	read -r n n50 n99 < <(run "$WORK/pando-new" $((BASE + 4 * NODES)))
	printf '| %d | %s | %s | %s | %s | %s | %s | %s |\n' "$r" "$o" "$o50" "$o99" "$n" "$n50" "$n99" \
		"$(awk -v a="$n" -v b="$o" 'BEGIN { printf "%.2fx", a / b }')"
done
printf '\n%s node(s); command: pando bench --clients %s --keys 100000 --value-size 100 --reads %s --consistency %s --duration %s; nproc %s; %s\n' \
	"$NODES" "$CLIENTS" "$READS" "$CONSISTENCY" "$DURATION" "$(nproc)" "$(date -u '+%Y-%m-%d %H:%M UTC')"
