#!/usr/bin/env bash
# SMTP ingest figure: 16 concurrent clients on loopback send 10,000 messages
# to a fresh server; prints acknowledged messages/s and time-to-250
# percentiles. Usage: bash bench/smtp.sh [CLIENTS] [MESSAGES]
#
# With DB=postgres://... the servers store in that PostgreSQL database (a
# schema "bench" the script drops and creates; psql needed), and NODES=2
# runs two servers on it, each sent half the clients and messages at once;
# the total rate is then the messages over the wall time of both loads.
# LISTS=N (default 1) spreads the load over N lists, load1 ... loadN
# (created before the load): node n sends to list ((n-1) mod N) + 1, so
# NODES=2 LISTS=2 has each node write its own list.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/patchwell ./cmd/patchwell
go build -o bin/smtpload ./bench/smtpload
clients=${1:-16} msgs=${2:-10000} nodes=${NODES:-1} lists=${LISTS:-1}
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
to=()
if [ "$lists" != 1 ]; then
  for l in $(seq "$lists"); do ./bin/patchwell list create "load$l" --data "$data/1" "${dbflag[@]}" >/dev/null; done
fi
start=$(date +%s.%N)
for n in $(seq "$nodes"); do
  [ "$lists" != 1 ] && to=(-to "load$(( (n - 1) % lists + 1 ))@patchwell.localhost")
  ./bin/smtpload -addr "127.0.0.1:1252$n" -clients $((clients / nodes)) -n $((msgs / nodes)) "${to[@]}" > "$data/load$n.out" &
  loads+=($!)
done
wait "${loads[@]}"
end=$(date +%s.%N)
for n in $(seq "$nodes"); do echo "node $n:"; cat "$data/load$n.out"; done
# The rate counts acknowledged messages: a node that fails shows.
acked=$(awk '/acknowledged/ { n += $1 } END { print n + 0 }' "$data"/load*.out)
awk -v n="$acked" -v m="$msgs" -v s="$start" -v e="$end" -v k="$nodes" -v l="$lists" 'BEGIN { printf "%d node(s), %d list(s): %d of %d messages in %.2f s: %.0f messages/s\n", k, l, n, m, e - s, n / (e - s) }'
