#!/usr/bin/env bash
# bench-secure.sh: QUORUM throughput and latency of a 3-node cluster on
# loopback with security off, then on (TLS on every listener, mutual
# between nodes, encrypted gossip, --require-auth with a logged-in client),
# alternated ROUNDS times in one run, with the on/off ratios.
#
# Settings (environment): DURATION=8s CLIENTS=50 KEYS=100000 VALUE=100
# ROUNDS=2 BASE_PORT=26100 (the nodes use BASE_PORT .. BASE_PORT+11).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-8s}
CLIENTS=${CLIENTS:-50}
KEYS=${KEYS:-100000}
VALUE=${VALUE:-100}
ROUNDS=${ROUNDS:-2}
BASE=${BASE_PORT:-26100}

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
"$P" cert create-ca --out "$WORK/certs" >/dev/null
"$P" cert create-node node --ca "$WORK/certs" --out "$WORK/certs" >/dev/null
"$P" cert create-gossip-key --out "$WORK/certs" >/dev/null
echo "bench-secure-pw" >"$WORK/certs/admin.pw"
SECURE=(--tls-cert "$WORK/certs/node.crt" --tls-key "$WORK/certs/node.key" --tls-ca "$WORK/certs/ca.crt"
	--gossip-key-file "$WORK/certs/gossip.key" --require-auth --admin-user bench --admin-password-file "$WORK/certs/admin.pw")

start_nodes() { # dir [flags...]
	local dir=$1; shift
	local join="127.0.0.1:$((BASE + 3)),127.0.0.1:$((BASE + 7)),127.0.0.1:$((BASE + 11))"
	for i in 0 1 2; do
		local b=$((BASE + 4 * i))
		"$P" server --node-id "n$((i + 1))" --data-dir "$dir/n$i" --resp-addr "127.0.0.1:$b" --http-addr "127.0.0.1:$((b + 1))" \
			--cluster-addr "127.0.0.1:$((b + 2))" --gossip-addr "127.0.0.1:$((b + 3))" --join "$join" \
			--bootstrap-expect 3 --gossip-profile local --log-level warn "$@" 2>>"$dir.log" &
		PIDS+=($!)
	done
	for i in 0 1 2; do
		local ok=
		for _ in $(seq 300); do
			if curl -sfk "http://127.0.0.1:$((BASE + 4 * i + 1))/readyz" >/dev/null 2>&1 ||
				curl -sf --cacert "$WORK/certs/ca.crt" "https://localhost:$((BASE + 4 * i + 1))/readyz" >/dev/null 2>&1; then
				ok=1; break
			fi
			sleep 0.1
		done
		[ -n "$ok" ] || { echo "bench-secure.sh: node $i not ready (log: $dir.log)" >&2; exit 1; }
	done
}

bench() { # reads [bench flags...] -> "ops p50 p99"
	local reads=$1; shift
	"$P" bench --addr "127.0.0.1:$BASE,127.0.0.1:$((BASE + 4)),127.0.0.1:$((BASE + 8))" --clients "$CLIENTS" \
		--keys "$KEYS" --value-size "$VALUE" --reads "$reads" --consistency quorum --duration "$DURATION" "$@" |
		awk -v want="$( [ "$reads" = 1 ] && echo get || echo set )" '$1==want {print $2, $3, $4}'
}

echo "round  security  writes/s  p50  p99      reads/s  p50  p99"
for r in $(seq "$ROUNDS"); do
	start_nodes "$WORK/plain$r"
	read -r w w50 w99 < <(bench 0)
	read -r rd r50 r99 < <(bench 1)
	stop_nodes
	echo "$r      off       $w  $w50  $w99      $rd  $r50  $r99"
	start_nodes "$WORK/secure$r" "${SECURE[@]}" # ready: the first admin is made
	read -r w w50 w99 < <(PANDO_USER=bench PANDO_PASSWORD=bench-secure-pw bench 0 --tls-ca "$WORK/certs/ca.crt")
	read -r rd r50 r99 < <(PANDO_USER=bench PANDO_PASSWORD=bench-secure-pw bench 1 --tls-ca "$WORK/certs/ca.crt")
	stop_nodes
	echo "$r      on        $w  $w50  $w99      $rd  $r50  $r99"
done
