package ci

import (
	"testing"

	"patchwell/store"
)

// The summary lists the series' checks and the per-patch checks that
// did not pass, with log links for the checks that have a log.
func TestCISummary(t *testing.T) {
	s := &store.Series{ID: 7, Version: 2, Received: 3, Total: 3}
	got := summaryBody(s, []store.Check{
		{ID: 1, Context: ContextApply, State: store.CheckSuccess, Description: "applied on main at 1a2b", Log: "applied"},
		{ID: 2, Context: ContextCheck, State: store.CheckSuccess, Description: "passed in 1s", Log: "$ make"},
		{ID: 3, PatchIndex: 1, Context: ContextCheck, State: store.CheckSuccess, Description: "passed in 1s", Log: "$ make"},
		{ID: 4, PatchIndex: 2, Context: ContextCheck, State: store.CheckFail, Description: "exit status 2\nafter 1s", Log: "$ make"},
		{ID: 5, PatchIndex: 3, Context: ContextCheck, State: store.CheckWarning, Description: "not run: the check fails at patch 2"},
	}, "https://p.example.org")
	want := `CI result for this series (v2, 3 of 3 patches): fail

patchwell/apply: success
  applied on main at 1a2b
  log: https://p.example.org/api/v1/checks/1/log
patchwell/check: success
  passed in 1s
  log: https://p.example.org/api/v1/checks/2/log
patchwell/check (patch 2): fail
  exit status 2 after 1s
  log: https://p.example.org/api/v1/checks/4/log
patchwell/check (patch 3): warning
  not run: the check fails at patch 2

Series: https://p.example.org/series/7/#checks

-- 
patchwell CI
`
	if got != want {
		t.Errorf("summaryBody() =\n%s\nwant\n%s", got, want)
	}
}
