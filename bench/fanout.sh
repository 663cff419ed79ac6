#!/usr/bin/env bash
# Fan-out figure: one post to SUBS subscribers (default 10,000) through a
# local SMTP sink as the smarthost: time until the sink has every copy,
# and the server's peak RSS; then SMTP ingest (bench/smtpload: 16 clients,
# 5,000 messages to another list) alone and while such a fan-out runs.
# Usage: bash bench/fanout.sh [SUBS]
set -euo pipefail
cd "$(dirname "$0")/.."
subs=${1:-10000}
go build -o bin/patchwell ./cmd/patchwell
go build -o bin/smtpload ./bench/smtpload
go build -o bin/smtpsink ./bench/smtpsink
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
wait_port() { for i in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return; sleep 0.05; done; echo "port $1 not up" >&2; exit 1; }

# A data dir with lists dev (SUBS subscribers) and quiet (none).
setup() {
  rm -rf "$work/data"
  ./bin/patchwell list create dev --data "$work/data" >/dev/null
  ./bin/patchwell list create quiet --data "$work/data" >/dev/null
  seq 1 "$subs" | sed 's/^/sub/; s/$/@example.net/' > "$work/subs"
  ./bin/patchwell sub add --file "$work/subs" --list dev --data "$work/data" >/dev/null
}
serve() {
  ./bin/patchwell serve --data "$work/data" --smtp 127.0.0.1:12525 --http 127.0.0.1:18080 --imap "" \
    --mail-auth=false --smarthost 127.0.0.1:12526 2>"$work/serve.log" &
  pids+=($!)
  wait_port 12525
}
./bin/smtpsink -addr 127.0.0.1:12526 > "$work/sink.log" &
pids+=($!)
wait_port 12526

setup; serve
start=$(date +%s.%N)
./bin/smtpload -addr 127.0.0.1:12525 -clients 1 -n 1 -to dev@patchwell.localhost >/dev/null
while [ "$(tail -1 "$work/sink.log" | awk '{print $2}')" != "$subs" ]; do sleep 0.05; done
end=$(date +%s.%N)
rss=$(awk '/VmHWM/ {print $2}' /proc/${pids[1]}/status)
awk -v s="$start" -v e="$end" -v n="$subs" -v rss="$rss" 'BEGIN { printf "fan-out: %d copies in %.2f s (%.0f/s), server peak RSS %.0f MB\n", n, e - s, n / (e - s), rss / 1024 }'

echo "ingest alone (16 clients, 5,000 messages to a list without subscribers):"
./bin/smtpload -addr 127.0.0.1:12525 -clients 16 -n 5000 -to quiet@patchwell.localhost | grep -E "messages/s|p50"
echo "ingest while one post fans out to $subs subscribers:"
before=$(tail -1 "$work/sink.log" | awk '{print $2}')
./bin/smtpload -addr 127.0.0.1:12525 -clients 1 -n 1 -to dev@patchwell.localhost >/dev/null
./bin/smtpload -addr 127.0.0.1:12525 -clients 16 -n 5000 -to quiet@patchwell.localhost | grep -E "messages/s|p50"
after=$(tail -1 "$work/sink.log" | awk '{print $2}')
echo "copies delivered during that ingest: $((after - before)) of $subs"
