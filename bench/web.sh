#!/usr/bin/env bash
# Read-side web figures: the b4 endpoints and the thread and series pages
# under wrk, on the 20,000-message benchmark corpus imported into one list.
#
#   bash bench/web.sh [MBOX.gz]
#
# Environment:
#   PATCHWELL_BENCH_DATA=DIR  reuse a data directory that already holds the
#                             corpus in list "bench" (import it once with
#                             `patchwell list create bench --data DIR` and
#                             `patchwell import --data DIR --list bench MBOX`);
#                             default: a fresh temporary one.
#   PATCHWELL_BENCH_DB=URL    serve from this PostgreSQL database (--db), for
#                             instance the schema bench/import.sh filled:
#                             postgres://...?search_path=bench; with
#                             PATCHWELL_BENCH_DATA unset the corpus is
#                             imported into it first (it must be empty).
#   DURATION=10s              wrk duration per run.
#   PORT=18081                HTTP port on 127.0.0.1.
#   PATCHWELL_BIN=PATH        benchmark this binary instead of building one
#                             (to compare with an older build).
#   SERIES=ID                 the series page to load (default: a series of
#                             the chosen thread).
#
# Picks the thread whose size is closest to 32 messages (through the JSON
# API) and a series of that thread, then runs wrk with 1 and 32
# connections on: HEAD /LIST/MSGID (the redirect b4 repeats),
# GET /LIST/MSGID/t.mbox.gz, GET /LIST/MSGID/T/ (plain, and with
# Accept-Encoding: gzip as browsers send it) and GET /series/ID/, after
# one cold request each (printed). Requests carry no cookie: anonymous
# readers, whose pages are cached (web/cache.go).
# Prints requests/s and latency percentiles. Needs wrk, curl, jq.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-../shared/corpus/bench/git-20k.mbox.gz}
duration=${DURATION:-10s}
port=${PORT:-18081}
for tool in wrk curl jq; do
  command -v "$tool" >/dev/null || { echo "bench/web.sh needs $tool (apt-get install $tool)" >&2; exit 1; }
done
bin=${PATCHWELL_BIN:-}
if [ -z "$bin" ]; then
  go build -o bin/patchwell ./cmd/patchwell
  bin=./bin/patchwell
fi

tmp=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

dbflag=()
[ -n "${PATCHWELL_BENCH_DB:-}" ] && dbflag=(--db "$PATCHWELL_BENCH_DB")
data=${PATCHWELL_BENCH_DATA:-}
if [ -z "$data" ]; then
  [ -f "$corpus" ] || { echo "benchmark corpus $corpus not found" >&2; exit 1; }
  data=$tmp/data
  "$bin" list create bench --data "$data" "${dbflag[@]}" >/dev/null
  "$bin" import --data "$data" "${dbflag[@]}" --list bench "$corpus"
fi

"$bin" serve --data "$data" "${dbflag[@]}" --smtp "" --http "127.0.0.1:$port" --no-default-list 2>"$tmp/serve.log" &
pid=$!
base=http://127.0.0.1:$port
for _ in $(seq 200); do curl -fs "$base/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
curl -fs "$base/healthz" >/dev/null || { cat "$tmp/serve.log" >&2; exit 1; }

# The thread closest to 32 messages, from every page of the thread list.
: >"$tmp/threads.json"
off=0
while :; do
  page=$(curl -fs "$base/api/v1/lists/bench/threads?limit=1000&offset=$off")
  n=$(jq '.threads | length' <<<"$page")
  jq -c '.threads[]' <<<"$page" >>"$tmp/threads.json"
  [ "$n" -lt 1000 ] && break
  off=$((off + 1000))
done
thread=$(jq -s -c 'sort_by((.messages - 32) | fabs) | .[0]' "$tmp/threads.json")
tid=$(jq -r .id <<<"$thread")
msgs=$(jq -r .messages <<<"$thread")
mid=$(jq -r '.root_message_id | @uri' <<<"$thread")
# A series of that thread (from the thread API), else the newest series.
sid=${SERIES:-$(curl -fs "$base/api/v1/lists/bench/threads/$mid" 2>/dev/null | jq -r '[.messages[].series_id | select(. != null)][0] // empty' || true)}
[ -n "$sid" ] || sid=$(curl -fs "$base/api/v1/lists/bench/series?limit=1" | jq -r '.series[0].id')

echo "thread $tid ($msgs messages): $base/bench/$mid/"
echo "series $sid: $base/series/$sid/"
# First requests, cold caches: status, time, size.
for path in "bench/$mid/t.mbox.gz" "bench/$mid/T/" "series/$sid/"; do
  read -r code t size < <(curl -s -o /dev/null -w '%{http_code} %{time_total} %{size_download}\n' "$base/$path")
  [ "$code" = 200 ] || { echo "GET /$path: $code" >&2; exit 1; }
  printf 'cold GET /%s: %.1f ms, %d bytes\n' "$path" "$(awk -v t="$t" 'BEGIN { print t * 1000 }')" "$size"
done
code=$(curl -s -o /dev/null -w '%{http_code}' -I "$base/bench/$mid")
[ "$code" = 302 ] || { echo "HEAD /bench/$mid: $code" >&2; exit 1; }
echo 'wrk.method = "HEAD"' >"$tmp/head.lua"

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
# srv CPU/req: the server's user+system CPU time over the run divided by
# the requests served (from /proc; less sensitive to a busy machine than
# latency).
printf '%-28s %5s %10s %9s %9s %9s %9s %12s\n' endpoint conns 'req/s' p50 p75 p90 p99 'srv CPU/req'
ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
run() { # name conns path [wrk args]
  local name=$1 conns=$2 path=$3
  shift 3
  local threads=$((conns < 2 ? 1 : 2))
  local t0 t1
  t0=$(ticks)
  wrk -t"$threads" -c"$conns" -d"$duration" --timeout 30s --latency "$@" "$base/$path" >"$tmp/wrk.out"
  t1=$(ticks)
  awk -v name="$name" -v conns="$conns" -v cpu="$(( t1 - t0 ))" -v hz="$hz" '
    / requests in / { n = $1 }
    /Requests\/sec:/ { rps = $2 }
    /^ +50%/ { p50 = $2 } /^ +75%/ { p75 = $2 } /^ +90%/ { p90 = $2 } /^ +99%/ { p99 = $2 }
    /Non-2xx or 3xx/ { bad = $NF }
    /Socket errors/ { err = $0 }
    END {
      printf "%-28s %5d %10s %9s %9s %9s %9s", name, conns, rps, p50, p75, p90, p99
      if (n > 0) printf " %10.0fus", cpu / hz * 1e6 / n; else printf " %12s", "-"
      if (bad != "") printf "  non-2xx/3xx: %s", bad
      if (err != "") printf "  %s", err
      printf "\n"
    }' "$tmp/wrk.out"
}
for c in 1 32; do
  run "HEAD /LIST/MSGID" "$c" "bench/$mid" -s "$tmp/head.lua"
  run "GET t.mbox.gz" "$c" "bench/$mid/t.mbox.gz"
  run "GET thread page /T/" "$c" "bench/$mid/T/"
  run "GET /T/ (gzip, as browsers)" "$c" "bench/$mid/T/" -H "Accept-Encoding: gzip"
  run "GET series page" "$c" "series/$sid/"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
