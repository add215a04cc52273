# Braid — build, run, test.
GO        ?= go
BIN       := bin/braid
PKGS      := ./...
TESTFLAGS ?= -race -timeout 20m

.PHONY: all build run test test-short bench lint services fmt docs clean proto

all: build

build:
	$(GO) build -o $(BIN) ./cmd/braid

# The quick-start demo: a pipeline on the embedded log.
run: build
	./$(BIN) run -f examples/quickstart/pipeline.yaml --data-dir ./data/quickstart --once --timeout 2m
	@echo
	@echo "== data/quickstart/out/all: $$(cat data/quickstart/out/all/*.jsonl | wc -l) orders in $$(ls data/quickstart/out/all | wc -l) files"
	@echo "== data/quickstart/out/big (amount > 100), first 5:"
	@cat data/quickstart/out/big/*.jsonl | head -n 5

services:
	./scripts/services.sh

test: services build
	$(GO) test $(TESTFLAGS) $(PKGS)

test-short:
	$(GO) test -short $(PKGS)

# Every benchmark prints one JSON line with its baseline from the same run and the ratio.
bench: build services
	./$(BIN) bench log --records 1000000 --size 128 --partitions 3 --json
	./$(BIN) bench kafka --records 1000000 --size 128 --json
	./$(BIN) bench pipeline --records 1000000 --size 256 --json
	./$(BIN) bench http-webhook --records 1000000 --batch 100 --json
	./$(BIN) bench tcp --lines 1000000 --clients 8 --json
	./$(BIN) bench sftp --json
	./$(BIN) bench sftp --format binary --json
	./$(BIN) bench ftp --json
	./$(BIN) bench ftp --format binary --json
	./$(BIN) bench parquet --records 500000 --json
	./$(BIN) bench jdbc-sink --dialect mysql --rows 100000 --json
	./$(BIN) bench jdbc-sink --dialect postgres --rows 100000 --json
	./$(BIN) bench jdbc-source --dialect mysql --rows 100000 --json
	./$(BIN) bench cdc --dialect mysql --ops 1000000 --rows 1000000 --json
	./$(BIN) bench cdc --dialect postgres --ops 300000 --rows 1000000 --json
	./$(BIN) bench jdbc-source --dialect postgres --rows 100000 --json
	./$(BIN) bench plugin --records 500000 --size 256 --json

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin data

# Regenerates the plugin protocol's Go code (committed, so a build never needs
# protoc): protoc from Debian's protobuf-compiler, the Go plugins at the
# versions below (protoc-gen-go matches go.mod's google.golang.org/protobuf).
PROTOC_GEN_GO      := v1.36.12
PROTOC_GEN_GO_GRPC := v1.6.0
proto:
	command -v protoc >/dev/null || (apt-get update -qq && apt-get install -y -qq protobuf-compiler)
	GOFLAGS= $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO)
	GOFLAGS= $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC)
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc -I proto --go_out=. --go_opt=module=github.com/braidhq/braid \
		--go-grpc_out=. --go-grpc_opt=module=github.com/braidhq/braid proto/braid/connector/v1/connector.proto
	protoc -I proto/braid/connector/v1 --python_out=sdk/python/braid_plugin proto/braid/connector/v1/connector.proto

# The seed example: webhook, CSV, MariaDB and generator sources into PostgreSQL,
# Parquet, email, audit and HTTP sinks (examples/seed/README.md).
.PHONY: seed
seed:
	./examples/seed/run.sh
