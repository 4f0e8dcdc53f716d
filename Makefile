# The test command of the README: vet, the whole suite under the race
# detector, and a short run of every fuzz target.
.PHONY: test vet race fuzz-short bench build proto verify-short verify-long

# A count of inputs, not a duration: with a duration, Go 1.26's fuzzing
# coordinator can fail a target with a bare "context deadline exceeded" when
# a worker is mid-input at the deadline (go.dev/issue/75804, fixed in Go
# 1.27). 50,000 inputs take a few seconds per target here.
FUZZTIME ?= 50000x

test: vet race fuzz-short

vet:
	go vet ./...

race:
	go test -race -count=1 -timeout 15m ./...

# Each fuzz target runs on its own for FUZZTIME inputs; the seed corpora also run as
# plain tests in "race".
fuzz-short:
	go test -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) ./internal/api/resp
	go test -run '^$$' -fuzz '^FuzzParseHash$$' -fuzztime $(FUZZTIME) ./internal/auth
	go test -run '^$$' -fuzz '^FuzzAuth$$' -fuzztime $(FUZZTIME) ./internal/api/resp
	go test -run '^$$' -fuzz '^FuzzUserCommand$$' -fuzztime $(FUZZTIME) ./internal/metadata
	go test -run '^$$' -fuzz '^FuzzCommands$$' -fuzztime $(FUZZTIME) ./internal/api/resp
	go test -run '^$$' -fuzz '^FuzzGlobMatch$$' -fuzztime $(FUZZTIME) ./internal/api/resp
	go test -run '^$$' -fuzz '^FuzzDecodeRecord$$' -fuzztime $(FUZZTIME) ./internal/replica
	go test -run '^$$' -fuzz '^FuzzDecodeSet$$' -fuzztime $(FUZZTIME) ./dvv
	go test -run '^$$' -fuzz '^FuzzDecodeContext$$' -fuzztime $(FUZZTIME) ./dvv
	go test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./ring
	go test -run '^$$' -fuzz '^FuzzDecodeHint$$' -fuzztime $(FUZZTIME) ./internal/handoff
	go test -run '^$$' -fuzz '^FuzzDecodeCommand$$' -fuzztime $(FUZZTIME) ./internal/strong
	go test -run '^$$' -fuzz '^FuzzDecodeSnapshot$$' -fuzztime $(FUZZTIME) ./internal/strong
	go test -run '^$$' -fuzz '^FuzzDecodeMap$$' -fuzztime $(FUZZTIME) ./crdt
	go test -run '^$$' -fuzz '^FuzzDecodeResetCounter$$' -fuzztime $(FUZZTIME) ./crdt
	go test -run '^$$' -fuzz '^FuzzDecodeTally$$' -fuzztime $(FUZZTIME) ./crdt
	go test -run '^$$' -fuzz '^FuzzDecodeHash$$' -fuzztime $(FUZZTIME) ./crdt
	go test -run '^$$' -fuzz '^FuzzDecodeSet$$' -fuzztime $(FUZZTIME) ./crdt

build:
	go build -o bin/pando ./cmd/pando

# Pando against Redis (durable and in-memory) on loopback; see BENCHMARKS.md.
bench:
	scripts/bench.sh

# Regenerate the node-to-node protocol (needs protoc: apt-get install -y protobuf-compiler).
proto:
	protoc --plugin=protoc-gen-go="$$(go tool -n protoc-gen-go)" \
		--plugin=protoc-gen-go-grpc="$$(go tool -n protoc-gen-go-grpc)" \
		--go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative \
		internal/transport/nodepb/node.proto

# Short verification runs of every workload (CI). Partitions need root:
# without it the runs use the other nemeses.
VERIFY_TIME ?= 15s
NEMESES_ALL := $(shell [ "$$(id -u)" = 0 ] && command -v iptables >/dev/null && echo partition,)
# The disk nemesis (a tmpfs per node) needs root too.
NEMESIS_DISK := $(shell [ "$$(id -u)" = 0 ] && echo ,disk)
verify-short: build
	bin/pando verify --secure --workload set --nemesis $(NEMESES_ALL)kill,fsync$(NEMESIS_DISK) --time $(VERIFY_TIME) --base-port 29000 --seed 1 --out $$(mktemp -d)/set
	bin/pando verify --workload durability --nemesis kill,fsync --time $(VERIFY_TIME) --base-port 29000 --seed 2 --out $$(mktemp -d)/durability
	bin/pando verify --workload register --nemesis $(NEMESES_ALL)membership,kill,pause,fsync --time $(VERIFY_TIME) --base-port 29000 --seed 3 --out $$(mktemp -d)/register
	bin/pando verify --workload bank --nemesis $(NEMESES_ALL)membership,kill,pause --time $(VERIFY_TIME) --base-port 29000 --seed 8 --out $$(mktemp -d)/bank
	bin/pando verify --workload convergence --nemesis $(NEMESES_ALL)kill --time $(VERIFY_TIME) --base-port 29000 --seed 4 --out $$(mktemp -d)/convergence
	bin/pando verify --secure --workload session --nemesis $(NEMESES_ALL)kill,pause,clock,fsync$(NEMESIS_DISK) --time $(VERIFY_TIME) --base-port 29000 --seed 5 --out $$(mktemp -d)/session
	bin/pando verify --workload delete --nemesis $(NEMESES_ALL)membership,kill,pause --time $(VERIFY_TIME) --base-port 29000 --seed 16 --out $$(mktemp -d)/delete
	bin/pando verify --workload ttl --nemesis $(NEMESES_ALL)kill,clock --time $(VERIFY_TIME) --base-port 29000 --seed 7 --out $$(mktemp -d)/ttl
	bin/pando verify --workload counter --nemesis $(NEMESES_ALL)kill,pause --time $(VERIFY_TIME) --base-port 29000 --seed 9 --out $$(mktemp -d)/counter
	bin/pando verify --workload sadd --nemesis $(NEMESES_ALL)kill,pause --time $(VERIFY_TIME) --base-port 29000 --seed 10 --out $$(mktemp -d)/sadd
	bin/pando verify --workload set --nemesis membership,kill --time $(VERIFY_TIME) --base-port 29000 --seed 1 --out $$(mktemp -d)/set-membership
	bin/pando verify --workload session --nemesis membership,kill --time $(VERIFY_TIME) --base-port 29000 --seed 14 --out $$(mktemp -d)/session-membership

# Long runs, as docs/verification.md reports them.
verify-long: build
	bin/pando verify --nodes 5 --secure --workload set --nemesis partition,kill,pause,clock,disk,fsync --time 10m --seed 101 --out verify-long/set
	bin/pando verify --nodes 5 --workload durability --nemesis kill,fsync --time 10m --seed 102 --out verify-long/durability
	bin/pando verify --nodes 5 --workload register --nemesis membership,partition,kill,pause,clock,fsync --time 10m --seed 103 --out verify-long/register
	bin/pando verify --nodes 5 --workload bank --nemesis membership,partition,kill,pause,clock,fsync --time 10m --seed 108 --out verify-long/bank
	bin/pando verify --nodes 5 --workload convergence --nemesis partition,kill,pause,clock --time 10m --seed 104 --out verify-long/convergence
	bin/pando verify --nodes 5 --secure --workload session --nemesis partition,kill,pause,clock,disk,fsync --time 10m --seed 105 --out verify-long/session
	bin/pando verify --nodes 5 --workload delete --nemesis membership,partition,kill,pause,clock --time 10m --seed 106 --out verify-long/delete
	bin/pando verify --nodes 5 --workload ttl --nemesis partition,kill,pause,clock --time 10m --seed 107 --out verify-long/ttl
	bin/pando verify --nodes 5 --workload counter --nemesis partition,kill,pause,clock --time 10m --seed 109 --out verify-long/counter
	bin/pando verify --nodes 5 --workload sadd --nemesis partition,kill,pause,clock --time 10m --seed 110 --out verify-long/sadd
	bin/pando verify --nodes 5 --workload hincrby --nemesis partition,kill,pause,clock --time 10m --seed 111 --out verify-long/hincrby
	bin/pando verify --nodes 5 --workload hset --nemesis partition,kill,pause,clock --time 10m --seed 112 --out verify-long/hset
	bin/pando verify --nodes 5 --workload strong-incr --nemesis partition,kill,pause,clock --time 10m --seed 113 --out verify-long/strong-incr
	bin/pando verify --nodes 5 --workload set --nemesis membership,partition,kill --time 10m --seed 114 --out verify-long/set-membership
	bin/pando verify --nodes 5 --workload session --nemesis membership,partition,kill,pause --time 10m --seed 115 --out verify-long/session-membership
