package ci

import "context"

// For the tests of package ci_test, which run a Scheduler on a real
// gitrepo.Workspace (package ci must not import gitrepo).

// IncompleteDue is incompleteDue: the incomplete revisions whose grace
// period has passed.
func (s *Scheduler) IncompleteDue(ctx context.Context) []int64 { return s.incompleteDue(ctx) }

// Runner is the Scheduler's in-process runner.
func (s *Scheduler) Runner() *Runner { return s.runner }
