#!/usr/bin/env bash
# SMTP ingest figure: 16 concurrent clients on loopback send 10,000 messages
# to a fresh server; prints acknowledged messages/s and time-to-250
# percentiles. Usage: bash bench/smtp.sh [CLIENTS] [MESSAGES]
#
# With DB=postgres://... the servers store in that PostgreSQL database (a
# schema "bench" the script drops and creates; psql needed), and NODES=2
# runs two servers on it, each sent half the clients and messages at once;
# the total rate is then the messages over the wall time of both loads.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/patchwell ./cmd/patchwell
go build -o bin/smtpload ./bench/smtpload
clients=${1:-16} msgs=${2:-10000} nodes=${NODES:-1}
data=$(mktemp -d)
pids=()
trap 'kill ${pids[@]} 2>/dev/null; wait 2>/dev/null; rm -rf "$data"' EXIT
dbflag=()
if [ -n "${DB:-}" ]; then
  psql -q "$DB" -c 'DROP SCHEMA IF EXISTS bench CASCADE' -c 'CREATE SCHEMA bench' 2>/dev/null
  case $DB in *\?*) url="$DB&search_path=bench" ;; *) url="$DB?search_path=bench" ;; esac
  dbflag=(--db "$url")
elif [ "$nodes" != 1 ]; then
  echo "NODES=$nodes needs DB=postgres://...: SQLite serves one node" >&2; exit 1
fi
for n in $(seq "$nodes"); do
  # --mail-auth=false: the figure is ingest, not DNS (SPF and DKIM lookups
  # wait on the resolver; without network it times out after 5 s).
  ./bin/patchwell serve --data "$data/$n" "${dbflag[@]}" --smtp "127.0.0.1:1252$n" --http "127.0.0.1:1808$n" --imap "" --mail-auth=false 2>"$data/$n.log" &
  pids+=($!)
  for i in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/1252$n") 2>/dev/null && break; sleep 0.1; done
done
start=$(date +%s.%N)
for n in $(seq "$nodes"); do
  ./bin/smtpload -addr "127.0.0.1:1252$n" -clients $((clients / nodes)) -n $((msgs / nodes)) > "$data/load$n.out" &
  loads+=($!)
done
wait "${loads[@]}"
end=$(date +%s.%N)
for n in $(seq "$nodes"); do echo "node $n:"; cat "$data/load$n.out"; done
awk -v n="$msgs" -v s="$start" -v e="$end" -v k="$nodes" 'BEGIN { printf "%d node(s): %d messages in %.2f s: %.0f messages/s\n", k, n, e - s, n / (e - s) }'
