GO ?= go

.PHONY: build run test test-image ci fuzz bench-import bench-smtp bench-web fmt vet image

build:
	@test -x bin/patchwell || echo "building bin/patchwell: the first build compiles SQLite (cgo), about two minutes on 2 cores"
	$(GO) build -o bin/patchwell ./cmd/patchwell

# The container image, an OCI archive (docs/deploy.md, "Container
# image"): a static patchwell and the build host's git and bubblewrap,
# assembled by deploy/image/mkimage without a registry or a daemon. The
# static build compiles SQLite again the first time (about two minutes).
image:
	$(GO) run ./deploy/image/mkimage -o bin/patchwell-image.tar

# Build, then run the server in place of the shell (exec), so Ctrl-C and
# signals reach it: serve on ./patchwell-data with the defaults, or
# ARGS="--http 127.0.0.1:9090 ...".
run: build
	exec bin/patchwell serve $(ARGS)

# The whole suite: unit, corpus and end-to-end tests (real git send-email).
# The store's suite runs a second time on PostgreSQL (PATCHWELL_TEST_PG names
# a server; without it those tests skip, and fail under CI=true).
test:
	$(GO) test -race -shuffle=on -timeout 30m ./...
	PATCHWELL_STORE_BACKEND=postgres $(GO) test -race -shuffle=on -timeout 30m ./store/...

# The container image built as make image builds it, unpacked and run
# under bubblewrap through README's Quick start (deploy/image): apart from
# make test because its static build takes minutes on a cold cache.
test-image:
	PATCHWELL_TEST_IMAGE=1 $(GO) test -count=1 -timeout 20m ./deploy/image/

# What CI runs: formatting, vet, the suite, the image, and each fuzz
# target briefly.
# The fuzz budget is a count of executions, not a duration: a -fuzztime
# duration races Go's fuzzing coordinator at the deadline and fails with
# "context deadline exceeded" and no crasher on a loaded machine
# (go.dev/issue/75804).
ci:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	@! git grep -InE '^(<<<<<<<|>>>>>>>)( |$$)' -- . ':!*testdata*' || { echo "merge conflict markers"; exit 1; }
	$(GO) vet ./...
	$(MAKE) test
	$(MAKE) test-image
	$(MAKE) fuzz FUZZTIME=20000x

FUZZTIME ?= 2m
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...

# Figures: see bench/README.md.
bench-import: build
	bash bench/import.sh

bench-smtp: build
	bash bench/smtp.sh

bench-web: build
	bash bench/web.sh
