#!/usr/bin/env bash
# bench-compare.sh: the working tree against another revision, on a 3-node
# `pando dev` cluster each, alternating runs in one sitting so that both
# see the same machine.
#
# Usage: scripts/bench-compare.sh [REV]   (default HEAD~1)
# Settings (environment): ROUNDS=2 DURATION=8s CLIENTS=50 READS=0 (0: writes,
# 1: reads) CONSISTENCY=quorum BASE_PORT=27000 (each cluster takes 12 ports).
set -euo pipefail
cd "$(dirname "$0")/.."

REV=${1:-HEAD~1}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-8s}
CLIENTS=${CLIENTS:-50}
READS=${READS:-0}
CONSISTENCY=${CONSISTENCY:-quorum}
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
	"$p" dev --data-dir "$dir" --resp-port "$base" --http-port $((base + 3)) \
		--cluster-port $((base + 6)) --gossip-port $((base + 9)) >"$dir/dev.log" 2>&1 &
	local pid=$!
	for i in 0 1 2; do
		for _ in $(seq 300); do
			curl -sf "http://127.0.0.1:$((base + 3 + i))/readyz" >/dev/null 2>&1 && break
			sleep 0.1
		done
	done
	"$p" bench --addr "127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))" \
		--clients "$CLIENTS" --keys 100000 --value-size 100 --reads "$READS" \
		--consistency "$CONSISTENCY" --duration "$DURATION" |
		awk -v want="$([ "$READS" = 1 ] && echo get || echo set)" '$1==want {print $2, $3, $4}'
	kill -INT "$pid"
	wait "$pid" 2>/dev/null || true
}

printf '| round | %s ops/s | p50 | p99 | working tree ops/s | p50 | p99 | ratio |\n|---|---|---|---|---|---|---|---|\n' "$(git rev-parse --short "$REV")"
for r in $(seq "$ROUNDS"); do
	read -r o o50 o99 < <(run "$WORK/pando-old" "$BASE")
	read -r n n50 n99 < <(run "$WORK/pando-new" $((BASE + 12)))
	printf '| %d | %s | %s | %s | %s | %s | %s | %s |\n' "$r" "$o" "$o50" "$o99" "$n" "$n50" "$n99" \
		"$(awk -v a="$n" -v b="$o" 'BEGIN { printf "%.2fx", a / b }')"
done
printf '\ncommand: pando bench --clients %s --keys 100000 --value-size 100 --reads %s --consistency %s --duration %s; nproc %s; %s\n' \
	"$CLIENTS" "$READS" "$CONSISTENCY" "$DURATION" "$(nproc)" "$(date -u '+%Y-%m-%d %H:%M UTC')"
