# The test command of the README: vet, the whole suite under the race
# detector, and a short run of every fuzz target.
.PHONY: test vet race fuzz-short bench build proto

FUZZTIME ?= 10s

test: vet race fuzz-short

vet:
	go vet ./...

race:
	go test -race -count=1 ./...

# Each fuzz target runs on its own for FUZZTIME; the seed corpora also run as
# plain tests in "race".
fuzz-short:
	go test -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) ./internal/api/resp
	go test -run '^$$' -fuzz '^FuzzCommands$$' -fuzztime $(FUZZTIME) ./internal/api/resp
	go test -run '^$$' -fuzz '^FuzzGlobMatch$$' -fuzztime $(FUZZTIME) ./internal/api/resp
	go test -run '^$$' -fuzz '^FuzzDecodeRecord$$' -fuzztime $(FUZZTIME) ./internal/replica
	go test -run '^$$' -fuzz '^FuzzDecodeSet$$' -fuzztime $(FUZZTIME) ./dvv
	go test -run '^$$' -fuzz '^FuzzDecodeContext$$' -fuzztime $(FUZZTIME) ./dvv
	go test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./ring

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
