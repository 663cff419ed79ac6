package web

// ResetHighlightCache empties the highlighting cache for the benchmarks
// of package web_test (a first view of a series).
func ResetHighlightCache() { resetHighlightCache() }
