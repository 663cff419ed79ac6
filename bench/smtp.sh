#!/usr/bin/env bash
# SMTP ingest figure: 16 concurrent clients on loopback send 10,000 messages
# to a fresh server; prints acknowledged messages/s and time-to-250
# percentiles. Usage: bash bench/smtp.sh [CLIENTS] [MESSAGES]
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/patchwell ./cmd/patchwell
go build -o bin/smtpload ./bench/smtpload
data=$(mktemp -d)
./bin/patchwell serve --data "$data" --smtp 127.0.0.1:12525 --http 127.0.0.1:18080 --imap "" 2>"$data.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data" "$data.log"' EXIT
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/12525) 2>/dev/null && break; sleep 0.1; done
./bin/smtpload -addr 127.0.0.1:12525 -clients "${1:-16}" -n "${2:-10000}"
