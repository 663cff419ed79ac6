package main

import (
	"patchwell/lists"
	"patchwell/review"
	"patchwell/web"
	"patchwell/webhook"
)

// The web declares what it needs; these prove at compile time that what
// serve hands web.New provides it (a drifted signature fails the build,
// never turns a page off).
var (
	_ web.Reader = (*review.Service)(nil)

	_ web.ListReader    = (*review.Service)(nil)
	_ web.SeriesReader  = (*review.Service)(nil)
	_ web.SeriesDiffer  = (*review.Service)(nil)
	_ web.ThreadReader  = (*review.Service)(nil)
	_ web.MessageReader = (*review.Service)(nil)
	_ web.Mboxer        = (*review.Service)(nil)
	_ web.Searcher      = (*review.Service)(nil)
	_ web.Reviewer      = (*review.Service)(nil)
	_ web.CheckStore    = (*review.Service)(nil)
	_ web.ListData      = (*review.Service)(nil)
	_ web.RepoReader    = (*review.Service)(nil)
	_ web.Generationer  = (*review.Service)(nil)

	_ web.Accounts   = (*review.Accounts)(nil)
	_ web.ListServer = (*lists.Server)(nil)
	_ web.Notifier   = (*webhook.Dispatcher)(nil)
)
