#!/usr/bin/env bash
# CI latency figure: a 10-patch series sent with git send-email to a list
# with a repository; prints the time from git send-email's return (the
# last patch's 250) to the patchwell/check result, with the check `true`
# (so the check's own time is nil). Runs it RUNS times (default 5), then
# times `patchwell apply` of the last one (apply and push).
# With VCS=hg the list's repository is a Mercurial one with the same tree
# (the patches are still git format-patch's, as contributors send them).
# Usage: [VCS=hg] bash bench/ci.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
go build -o bin/patchwell ./cmd/patchwell
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
git init -q -b main "$work/repo"
cd "$work/repo"
echo base > README
git add README
git -c user.name=A -c user.email=a@example.org commit -q -m base
git clone -q --bare . "$work/project.git"
repo=("$work/project.git" --branch main)
if [ "${VCS:-git}" = hg ]; then
  hg init "$work/project.hg"
  echo base > "$work/project.hg/README"
  hg -R "$work/project.hg" add -q "$work/project.hg/README"
  hg -R "$work/project.hg" commit -q -u "A <a@example.org>" -m base
  repo=("$work/project.hg" --vcs hg --branch default)
fi
for i in $(seq 10); do echo "$i" > "f$i.txt"; git add .; git -c user.name=A -c user.email=a@example.org commit -q -m "add f$i"; done
cd - >/dev/null
./bin/patchwell list create dev --repo "${repo[@]}" --check true --data "$work/data" >/dev/null
./bin/patchwell list update dev --first-timer-gate=false --data "$work/data" >/dev/null
./bin/patchwell serve --data "$work/data" --smtp 127.0.0.1:12625 --http 127.0.0.1:18180 --imap "" --mail-auth=false 2>"$work/serve.log" &
pid=$!
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/12625) 2>/dev/null && break; sleep 0.1; done
for r in $(seq "$runs"); do
  (cd "$work/repo" && git format-patch -q -v "$r" -o "$work/out$r" HEAD~10 &&
   git send-email -q --confirm=never --no-validate --to=dev@patchwell.localhost --from="A <a@example.org>" \
     --smtp-server=127.0.0.1 --smtp-server-port=12625 --smtp-domain=localhost --suppress-cc=all "$work/out$r" >/dev/null 2>&1)
  start=$(date +%s.%N)
  id=$(curl -s http://127.0.0.1:18180/api/v1/lists/dev/series | jq '.series | max_by(.id) | .id')
  while ! curl -s "http://127.0.0.1:18180/api/v1/series/$id" | jq -e '.checks[] | select(.context == "patchwell/check" and .state != "pending")' >/dev/null; do sleep 0.02; done
  end=$(date +%s.%N)
  state=$(curl -s "http://127.0.0.1:18180/api/v1/series/$id" | jq -r '.checks[] | select(.context == "patchwell/check") | .state')
  awk -v s="$start" -v e="$end" -v r="$r" -v st="$state" 'BEGIN { printf "run %d: 10-patch series, last 250 -> check %s in %.3f s\n", r, st, e - s }'
done
start=$(date +%s.%N)
./bin/patchwell apply "$id" --no-reply --data "$work/data" >/dev/null
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" -v v="${VCS:-git}" 'BEGIN { printf "apply (%s): 10-patch series applied and pushed in %.3f s\n", v, e - s }'
