#!/usr/bin/env bash
# bench.sh: compare Pando with Redis on this machine, over loopback only.
#
# Starts three servers on 127.0.0.1 — Redis with an fsync'd append-only file
# ("redis durable"), Redis in memory only ("redis memory") and Pando — and
# runs the same two redis-benchmark commands against each, one server after
# another, then prints a Markdown table of the SET and GET throughputs.
#
# Settings (environment variables):
#   N=200000          requests per redis-benchmark run (-n)
#   C=50              parallel connections (-c)
#   PIPE=16           pipeline depth of the second run (-P)
#   KEYSPACE=100000   random key space (-r)
#   BASE_PORT=17001   first port tried when picking free ports
#   PORT_REDIS_DURABLE, PORT_REDIS_MEMORY, PORT_PANDO, PORT_PANDO_HTTP
#                     fixed ports instead of picked ones (must be free)
#   OUT=path          also write the report to this file
#   KEEP=1            keep the work directory (data, logs, raw output)
#   TMPDIR            where the work directory is made (its file system
#                     matters: fsync on tmpfs is nearly free)
#
# Exits 0 whether or not the targets are met; non-zero if the setup fails
# (missing tools, build failure, a server that does not start) or if a
# benchmark run fails or gives no figure.
set -euo pipefail

N=${N:-200000}
C=${C:-50}
PIPE=${PIPE:-16}
KEYSPACE=${KEYSPACE:-100000}
BASE_PORT=${BASE_PORT:-17001}
KEEP=${KEEP:-0}
OUT=${OUT:-}

die() {
	printf 'bench.sh: error: %s\n' "$*" >&2
	exit 1
}
note() {
	printf 'bench.sh: %s\n' "$*" >&2
}

for v in N C PIPE KEYSPACE BASE_PORT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done

# OUT is relative to where the script was called from, not the repository.
if [[ -n $OUT && $OUT != /* ]]; then
	OUT="$PWD/$OUT"
fi

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
cd "$ROOT"
[[ -d cmd/pando ]] || die "$ROOT does not look like the Pando repository (no cmd/pando)"

# --- tools -------------------------------------------------------------------

need_install=0
for t in redis-server redis-benchmark redis-cli; do
	command -v "$t" >/dev/null 2>&1 || need_install=1
done
if ((need_install)); then
	note "redis-server, redis-benchmark or redis-cli is missing; installing redis-server and redis-tools"
	command -v apt-get >/dev/null 2>&1 ||
		die "cannot install Redis: apt-get not found; install redis-server and redis-benchmark yourself"
	SUDO=()
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null 2>&1 ||
			die "cannot install Redis: not root and sudo not found; install redis-server and redis-tools yourself"
		SUDO=(sudo)
	fi
	if ! { "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" apt-get install -y -qq redis-server redis-tools; }; then
		die "cannot install Redis: 'apt-get install redis-server redis-tools' failed"
	fi
	for t in redis-server redis-benchmark redis-cli; do
		command -v "$t" >/dev/null 2>&1 || die "$t still not found after installing redis-server and redis-tools"
	done
fi
command -v go >/dev/null 2>&1 || die "go not found on PATH; it is needed to build Pando"
for t in ps timeout awk; do
	command -v "$t" >/dev/null 2>&1 || die "$t not found"
done

# --- work directory and cleanup ----------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pando-bench.XXXXXX")
PIDS=() # every process started and not yet reaped; the EXIT trap stops them

# forget PID: drop a reaped PID from PIDS, so that the trap never signals a
# process that has since been given the same number.
forget() {
	local keep=() p
	for p in "${PIDS[@]}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

# alive PID: the process exists and is not a zombie waiting to be reaped.
alive() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ -n $st && $st != Z* ]]
}

# stop PID...: SIGTERM, up to 10 s to exit, then SIGKILL; reaps them.
stop() {
	local pid i any
	for pid in "$@"; do
		if alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
	done
	for ((i = 0; i < 100; i++)); do
		any=0
		for pid in "$@"; do
			if alive "$pid"; then any=1; fi
		done
		((any)) || break
		sleep 0.1
	done
	for pid in "$@"; do
		if alive "$pid"; then
			note "pid $pid did not stop within 10 s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
		forget "$pid"
	done
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if ((${#PIDS[@]})); then
		stop "${PIDS[@]}"
	fi
	if [[ $KEEP == 1 ]]; then
		note "kept work directory: $WORK"
	else
		rm -rf -- "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build -------------------------------------------------------------------

note "building pando into $WORK/pando"
go build -o "$WORK/pando" ./cmd/pando || die "go build ./cmd/pando failed"

# --- ports -------------------------------------------------------------------

USED_PORTS=" "

# port_busy PORT: something listens on PORT (on any address).
port_busy() {
	local p=$1
	if command -v ss >/dev/null 2>&1; then
		[[ -n $(ss -Hltn "sport = :$p" 2>/dev/null) ]] && return 0
	fi
	# Fallback, and a second opinion: can we connect to it?
	(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null
}

# pick_port VAR: use $VAR if set (it must be free), else the first free port
# from BASE_PORT upwards that no other server of this script has taken.
pick_port() {
	local var=$1 p
	if [[ -n ${!var:-} ]]; then
		p=${!var}
		if ! [[ $p =~ ^[0-9]+$ ]] || ((p < 1 || p > 65535)); then die "$var=$p is not a port"; fi
		[[ $USED_PORTS == *" $p "* ]] && die "$var=$p is already used by another server of this script"
		port_busy "$p" && die "$var=$p is already in use by another process"
	else
		for ((p = BASE_PORT; p < BASE_PORT + 1000 && p < 65536; p++)); do
			[[ $USED_PORTS == *" $p "* ]] && continue
			port_busy "$p" || break
		done
		((p < BASE_PORT + 1000 && p < 65536)) || die "no free port in $BASE_PORT..$((BASE_PORT + 999))"
	fi
	USED_PORTS+="$p "
	printf -v "$var" '%s' "$p"
}

pick_port PORT_REDIS_DURABLE
pick_port PORT_REDIS_MEMORY
pick_port PORT_PANDO
pick_port PORT_PANDO_HTTP

# --- servers -----------------------------------------------------------------

now_ms() {
	local t
	if [[ -n ${EPOCHREALTIME:-} ]]; then
		t=${EPOCHREALTIME/[.,]/}
		echo $((t / 1000))
	else
		date +%s%3N
	fi
}

declare -A PID_OF LOG_OF PORT_OF

# start NAME PORT LOG CMD...: run CMD in the background, output to LOG, and
# wait until it answers PING on PORT, and is the process that does.
start() {
	local name=$1 port=$2 log=$3 pid deadline reply rc
	shift 3
	"$@" >"$log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	PID_OF[$name]=$pid
	LOG_OF[$name]=$log
	PORT_OF[$name]=$port
	deadline=$(($(now_ms) + 15000))
	while :; do
		if ! alive "$pid"; then
			wait "$pid" 2>/dev/null && rc=0 || rc=$?
			forget "$pid"
			printf '\n--- %s log (%s) ---\n' "$name" "$log" >&2
			cat "$log" >&2 || true
			die "$name exited (status $rc) before answering PING on 127.0.0.1:$port"
		fi
		reply=$(timeout 1 redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null || true)
		[[ $reply == PONG ]] && break
		if (($(now_ms) >= deadline)); then
			printf '\n--- %s log (%s) ---\n' "$name" "$log" >&2
			cat "$log" >&2 || true
			die "$name did not answer PING on 127.0.0.1:$port within 15 s"
		fi
		sleep 0.1
	done
	# Make sure the PONG came from our process, not from someone else's
	# server that took the port first.
	reply=$(timeout 5 redis-cli -h 127.0.0.1 -p "$port" info server 2>/dev/null | tr -d '\r' |
		awk -F: '$1 == "process_id" { print $2 }' || true)
	[[ $reply == "$pid" ]] ||
		die "127.0.0.1:$port answered PING but its process_id is '$reply', not $pid (port taken by another process?)"
	note "$name is up on 127.0.0.1:$port (pid $pid)"
}

mkdir -p "$WORK/redis-durable" "$WORK/redis-memory" "$WORK/pando-data"

start redis-durable "$PORT_REDIS_DURABLE" "$WORK/redis-durable.log" \
	redis-server --port "$PORT_REDIS_DURABLE" --bind 127.0.0.1 --dir "$WORK/redis-durable" \
	--appendonly yes --appendfsync always --save '' --daemonize no
start redis-memory "$PORT_REDIS_MEMORY" "$WORK/redis-memory.log" \
	redis-server --port "$PORT_REDIS_MEMORY" --bind 127.0.0.1 --dir "$WORK/redis-memory" \
	--save '' --appendonly no --daemonize no
start pando "$PORT_PANDO" "$WORK/pando.log" \
	"$WORK/pando" server --data-dir "$WORK/pando-data" \
	--resp-addr "127.0.0.1:$PORT_PANDO" --http-addr "127.0.0.1:$PORT_PANDO_HTTP" --log-level warn

# --- benchmarks --------------------------------------------------------------

declare -A RES
FAILED=0
PIPES=(1)
if ((PIPE > 1)); then PIPES+=("$PIPE"); fi

# figure FILE OP: the final "OP: X requests per second" figure in FILE.
figure() {
	tr '\r' '\n' <"$1" |
		awk -v op="$2" '
			$0 ~ "^ *" op ": [0-9.]+ requests per second" {
				for (i = 1; i <= NF; i++) if ($i == op ":") v = $(i + 1)
			}
			END { if (v != "") print v }'
}

# bench NAME PIPELINE: both runs' SET and GET figures into RES[NAME,OP,PIPELINE].
bench() {
	local name=$1 pipe=$2 port=${PORT_OF[$1]} out rc op v bpid
	local args=(-h 127.0.0.1 -p "$port" -t "set,get" -n "$N" -c "$C" -r "$KEYSPACE")
	((pipe > 1)) && args+=(-P "$pipe")
	args+=(-q)
	out="$WORK/bench-$name-P$pipe.txt"
	note "$name: redis-benchmark ${args[*]}"
	# In the background and waited for, so that a SIGTERM or SIGINT to this
	# script is handled at once rather than when the run ends.
	redis-benchmark "${args[@]}" >"$out" 2>&1 </dev/null &
	bpid=$!
	PIDS+=("$bpid")
	wait "$bpid" && rc=0 || rc=$?
	forget "$bpid"
	for op in SET GET; do
		v=$(figure "$out" "$op")
		if [[ $rc -ne 0 || -z $v ]]; then
			RES[$name,$op,$pipe]=n/a
		else
			RES[$name,$op,$pipe]=$v
		fi
	done
	if [[ $rc -ne 0 || ${RES[$name,SET,$pipe]} == n/a || ${RES[$name,GET,$pipe]} == n/a ]]; then
		FAILED=1
		printf '\n--- %s: redis-benchmark failed (status %s) or gave no figure; its output: ---\n' "$name" "$rc" >&2
		tr '\r' '\n' <"$out" | grep -v '^$' | tail -20 >&2 || true
	fi
}

# One server at a time, each stopped once measured so that nothing it still
# does in the background (compaction, fsync) competes with the next one.
for name in redis-durable redis-memory pando; do
	for pipe in "${PIPES[@]}"; do
		bench "$name" "$pipe"
	done
	if ! alive "${PID_OF[$name]}"; then
		FAILED=1
		printf '\n--- %s died during the benchmark; its log (%s): ---\n' "$name" "${LOG_OF[$name]}" >&2
		tail -50 "${LOG_OF[$name]}" >&2 || true
	fi
	stop "${PID_OF[$name]}"
done

# --- report ------------------------------------------------------------------

ops() { # integer ops/s, or n/a
	awk -v x="$1" 'BEGIN { if (x ~ /^[0-9.]+$/) printf "%.0f", x; else printf "n/a" }'
}
ratio() { # a/b to two decimals with an x, or n/a
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b + 0 > 0) printf "%.2fx", a / b; else printf "n/a" }'
}
meets() { # a/b >= t: met, missed or unknown
	awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN {
		if (!(a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b + 0 > 0)) print "unknown (no figure)"
		else if (a / b >= t) print "met"
		else print "MISSED" }'
}

fstype=$(df -PT "$WORK" 2>/dev/null | awk 'NR == 2 { print $2 }' || true)
fstype=${fstype:-unknown}
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain --untracked-files=no 2>/dev/null || true) ]]; then
	rev+=" (with uncommitted changes)"
fi

also=
if ((PIPE > 1)); then also=", then the same with \`-P $PIPE\`"; fi

report=$(
	echo "| test | pando ops/s | redis durable ops/s | redis memory ops/s | pando / durable | pando / memory |"
	echo "|---|---|---|---|---|---|"
	for pipe in "${PIPES[@]}"; do
		for op in SET GET; do
			p=${RES[pando,$op,$pipe]}
			d=${RES[redis-durable,$op,$pipe]}
			m=${RES[redis-memory,$op,$pipe]}
			echo "| $op -P $pipe | $(ops "$p") | $(ops "$d") | $(ops "$m") | $(ratio "$p" "$d") | $(ratio "$p" "$m") |"
		done
	done
	echo
	echo "- command: \`redis-benchmark -h 127.0.0.1 -p PORT -t set,get -n $N -c $C -r $KEYSPACE -q\`$also"
	echo "- servers, one at a time: redis durable (\`--appendonly yes --appendfsync always --save ''\`) on port $PORT_REDIS_DURABLE, redis memory (\`--save '' --appendonly no\`) on port $PORT_REDIS_MEMORY, pando $rev on port $PORT_PANDO"
	echo "- redis: $(redis-server --version | head -1)"
	echo "- nproc: $(nproc)"
	echo "- data file system: $fstype"
	echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo
	echo "target: SET >= 1.0x redis durable; GET >= 0.5x redis memory"
	echo
	for pipe in "${PIPES[@]}"; do
		p=${RES[pando,SET,$pipe]}
		d=${RES[redis-durable,SET,$pipe]}
		echo "- SET -P $pipe: pando / durable = $(ratio "$p" "$d") (target >= 1.0x): $(meets "$p" "$d" 1.0)"
		p=${RES[pando,GET,$pipe]}
		m=${RES[redis-memory,GET,$pipe]}
		echo "- GET -P $pipe: pando / memory = $(ratio "$p" "$m") (target >= 0.5x): $(meets "$p" "$m" 0.5)"
	done
)

printf '%s\n' "$report"
if [[ -n $OUT ]]; then
	printf '%s\n' "$report" >"$OUT" || die "cannot write $OUT"
	note "report written to $OUT"
fi

if ((FAILED)); then
	die "at least one benchmark run failed; see above"
fi
exit 0
