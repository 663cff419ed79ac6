#!/usr/bin/env bash
# Bulk import figure: patchwell import of the 20,000-message benchmark corpus
# (../shared/corpus/bench/git-20k.mbox.gz) into a fresh data directory.
# Prints messages/s, peak RSS and the data directory's size next to the raw
# mbox's. Usage: bash bench/import.sh [MBOX.gz]
# With DB=postgres://... the store is that PostgreSQL database instead, in
# a schema "bench" the script drops and creates (psql needed); the size
# printed is then the schema's.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-../shared/corpus/bench/git-20k.mbox.gz}
[ -f "$corpus" ] || { echo "benchmark corpus $corpus not found" >&2; exit 1; }
go build -o bin/patchwell ./cmd/patchwell
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
dbflag=()
if [ -n "${DB:-}" ]; then
  psql -q "$DB" -c 'DROP SCHEMA IF EXISTS bench CASCADE' -c 'CREATE SCHEMA bench'
  case $DB in *\?*) url="$DB&search_path=bench" ;; *) url="$DB?search_path=bench" ;; esac
  dbflag=(--db "$url")
fi
./bin/patchwell list create bench --data "$data" "${dbflag[@]}" >/dev/null
raw=$(gzip -dc "$corpus" | wc -c)
start=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$data.rss" ./bin/patchwell import --data "$data" "${dbflag[@]}" --list bench "$corpus"
end=$(date +%s.%N)
# The count is the field before "messages" (list ls prints name, address,
# visibility, count, "messages", ...).
n=$(./bin/patchwell list ls --data "$data" "${dbflag[@]}" | awk '{for (i = 1; i < NF; i++) if ($(i + 1) == "messages") { print $i; exit }}')
rss=$(cat "$data.rss"); rm -f "$data.rss"
disk=$(du -sb "$data" | cut -f1)
if [ -n "${DB:-}" ]; then
  disk=$(psql -qAt "$DB" -c "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'bench' AND c.relkind IN ('r','m')")
fi
awk -v n="$n" -v s="$start" -v e="$end" -v rss="$rss" -v disk="$disk" -v raw="$raw" 'BEGIN {
  t = e - s
  printf "messages %d in %.2f s: %.0f messages/s\n", n, t, n / t
  printf "peak RSS %.0f MB\n", rss / 1024
  printf "data dir %.1f MB, raw mbox %.1f MB (%.0f%%)\n", disk / 1e6, raw / 1e6, 100 * disk / raw
}'
./bin/patchwell list ls --data "$data" "${dbflag[@]}"
