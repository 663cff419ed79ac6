package main

import (
	"patchwell/ci"
	"patchwell/gitrepo"
	"patchwell/review"
	"patchwell/webhook"
)

// CI declares what it needs; these prove at compile time that what
// serve hands ci.NewScheduler provides it.
var (
	_ ci.SchedulerStore = (*timedJobs)(nil)
	_ ci.Workspace      = (*gitrepo.Workspace)(nil)
	_ ci.Replier        = (*review.Service)(nil)
	_ ci.Notifier       = (*webhook.Dispatcher)(nil)
	_ ci.Tokens         = (*review.Accounts)(nil)
)
