#!/usr/bin/env bash
# IMAP figures on the 20,000-message benchmark corpus in one list:
#   1. the Go benchmarks of imapd (warm SELECT, UID FETCH 1:* of every
#      header over TCP, server memory per idle session with 1,000 held,
#      the time for a new message to wake 1,000 idling sessions);
#   2. the same SELECT and FETCH timed from Python's imaplib against
#      `patchwell serve --imap`, and a full mbsync (isync) of the list
#      into an empty Maildir;
#   3. the same three against public-inbox-imapd when public-inbox is
#      installed (SKIP_PI=1 skips it: indexing the corpus takes minutes).
#
#   bash bench/imap.sh [MBOX.gz]
#
# Environment: PATCHWELL_BENCH_DATA=DIR reuses a data directory holding
# the corpus in list "bench" (as bench/web.sh); COUNT=3 runs of each Go
# benchmark; PORT and PI_PORT on 127.0.0.1 (default: free ones).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-../shared/corpus/bench/git-20k.mbox.gz}
count=${COUNT:-3}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=${PORT:-$(free_port)}
pi_port=${PI_PORT:-$(free_port)}
for tool in mbsync python3; do
  command -v "$tool" >/dev/null || { echo "bench/imap.sh needs $tool" >&2; exit 1; }
done
go build -o bin/patchwell ./cmd/patchwell
bin=./bin/patchwell

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

data=${PATCHWELL_BENCH_DATA:-}
if [ -z "$data" ]; then
  [ -f "$corpus" ] || { echo "benchmark corpus $corpus not found" >&2; exit 1; }
  data=$tmp/data
  "$bin" list create bench --data "$data" >/dev/null
  "$bin" import --data "$data" --list bench "$corpus" >/dev/null
fi

echo "== go test -bench (imapd), $count runs"
PATCHWELL_BENCH_DATA=$data go test -run '^$' -bench 'Select|FetchHeaders' -benchtime 10x -count "$count" ./imapd | grep '^Benchmark'
PATCHWELL_BENCH_DATA=$data go test -run '^$' -bench 'IdleSessions' -benchtime 1x -count "$count" ./imapd | grep '^Benchmark'
PATCHWELL_BENCH_DATA=$data go test -run '^$' -bench 'IdleWake' -benchtime 50x -count "$count" ./imapd | grep '^Benchmark'

wait_port() { # port pid: the server pid must be the one listening
  for _ in $(seq 600); do
    kill -0 "$2" 2>/dev/null || { echo "server exited" >&2; return 1; }
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listening on port $1" >&2; return 1
}

# imaplib timing: SELECT (median of 20, warm) and UID FETCH 1:*
# (BODY.PEEK[HEADER]) (median of 3), the same client for both servers.
cat >"$tmp/time.py" <<'EOF'
import imaplib, statistics, sys, time
port, box = int(sys.argv[1]), sys.argv[2]
M = imaplib.IMAP4("127.0.0.1", port)
M.login("anonymous", "x")
typ, data = M.select(box, readonly=True)
assert typ == "OK", data
n = int(data[0])
sel = []
for _ in range(20):
    t = time.perf_counter(); M.select(box, readonly=True); sel.append(time.perf_counter() - t)
fetch = []
for _ in range(3):
    t = time.perf_counter()
    typ, data = M.uid("FETCH", "1:*", "(BODY.PEEK[HEADER])")
    fetch.append(time.perf_counter() - t)
    assert typ == "OK"
size = sum(len(x[1]) for x in data if isinstance(x, tuple))
got = sum(1 for x in data if isinstance(x, tuple))
print("  %d messages: SELECT %.2f ms (median of 20), UID FETCH 1:* (BODY.PEEK[HEADER]) %.3f s (median of 3; %d headers, %.1f MB)"
      % (n, statistics.median(sel) * 1e3, statistics.median(fetch), got, size / 1e6))
M.logout()
EOF

# A full mbsync of the mailbox into an empty Maildir: wall time, peak RSS
# of mbsync, messages written.
mbsync_full() { # port box name
  local dir=$tmp/mbsync-$3
  mkdir -p "$dir/mail"
  cat >"$dir/rc" <<EOF
IMAPAccount a
Host 127.0.0.1
Port $1
User anonymous
Pass x
SSLType None
AuthMechs LOGIN
Timeout 120

IMAPStore remote
Account a

MaildirStore local
Path $dir/mail/
Inbox $dir/mail/INBOX
SubFolders Verbatim

Channel c
Far :remote:$2
Near :local:box
Sync Pull
Create Near
SyncState *
EOF
  /usr/bin/time -f "%e %M" -o "$dir/time" mbsync -q -c "$dir/rc" c >"$dir/out" 2>&1 || { cat "$dir/out" >&2; return 1; }
  read -r secs rss <"$dir/time"
  local n
  n=$(find "$dir/mail/box/new" "$dir/mail/box/cur" -type f | wc -l)
  printf '  mbsync full sync: %d messages in %.1f s (mbsync peak RSS %d MB)\n' "$n" "$secs" "$((rss / 1024))"
}

echo "== patchwell serve --imap"
"$bin" serve --data "$data" --smtp "" --http "" --imap "127.0.0.1:$port" --no-default-list 2>"$tmp/serve.log" &
pids+=($!)
wait_port "$port" "${pids[0]}" || { cat "$tmp/serve.log" >&2; exit 1; }
python3 "$tmp/time.py" "$port" bench
mbsync_full "$port" bench patchwell
echo "  server peak RSS $(awk '/VmHWM/ { printf "%d MB", $2 / 1024 }' "/proc/${pids[0]}/status")"

if [ -n "${SKIP_PI:-}" ] || ! command -v public-inbox-imapd >/dev/null; then
  echo "== public-inbox-imapd: skipped"
  exit 0
fi
echo "== public-inbox-imapd $(dpkg-query -W -f '${Version}' public-inbox 2>/dev/null || true)"
# A v1 inbox written with git fast-import (one blob per message, named
# by the sha1 of its Message-ID, as public-inbox does), then indexed at
# level basic (what IMAP needs: over.sqlite3 and msgmap; no Xapian).
export PI_CONFIG=$tmp/pi/config PI_DIR=$tmp/pi
mkdir -p "$PI_DIR"
public-inbox-init -L basic --ng bench bench "$PI_DIR/bench" http://127.0.0.1/bench bench@example.org
cat >"$tmp/fastimport.py" <<'EOF'
import email.utils, gzip, hashlib, re, sys
out = sys.stdout.buffer
def emit(raw, n):
    m = re.search(rb"^Message-I[Dd]:\s*<([^>]*)>", raw, re.M | re.I)
    mid = m.group(1) if m else b"bench-%d@example" % n
    h = hashlib.sha1(mid).hexdigest()
    path = "%s/%s" % (h[:2], h[2:])
    out.write(b"commit refs/heads/master\ncommitter bench <bench@example.org> %d +0000\n" % (1700000000 + n))
    out.write(b"data 0\n")
    out.write(b"M 100644 inline %s\ndata %d\n" % (path.encode(), len(raw)) + raw + b"\n")
msg, n = [], 0
def flush():
    global msg, n
    if msg:
        n += 1
        raw = b"".join(msg)
        # mboxrd: one level of ">From " quoting comes off.
        raw = re.sub(rb"(?m)^>(>*From )", rb"\1", raw)
        emit(raw, n)
    msg = []
with gzip.open(sys.argv[1], "rb") as f:
    for line in f:
        if line.startswith(b"From "):
            flush()
            continue
        msg.append(line)
flush()
sys.stderr.write("%d messages\n" % n)
EOF
start=$(date +%s.%N)
python3 "$tmp/fastimport.py" "$corpus" | git --git-dir="$PI_DIR/bench" fast-import --quiet --force
public-inbox-index "$PI_DIR/bench" >/dev/null 2>&1
echo "  (import and index: $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f s", e - s }'), not part of the figures)"
public-inbox-imapd -l "imap://127.0.0.1:$pi_port" >"$tmp/pi.log" 2>&1 &
pids+=($!)
wait_port "$pi_port" "${pids[1]}" || { cat "$tmp/pi.log" >&2; exit 1; }
python3 "$tmp/time.py" "$pi_port" bench.0
mbsync_full "$pi_port" bench.0 pi
echo "  server peak RSS $(awk '/VmHWM/ { printf "%d MB", $2 / 1024 }' "/proc/${pids[1]}/status") (the master process; workers not counted)"
