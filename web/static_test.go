package web

import "testing"

// maxPageWeight bounds what the pages load besides their HTML: the
// stylesheet and the series page's script, together (issue 17's
// quality bar: under 60 KB).
const maxPageWeight = 60 << 10

// TestStaticWeight keeps the CSS and JavaScript the binary serves small.
func TestStaticWeight(t *testing.T) {
	css, js, drafts := len(styleCSS), len(reviewJS), len(draftsJS)
	if css+js+drafts >= maxPageWeight {
		t.Errorf("style.css (%d bytes) + review.js (%d bytes) + drafts.js (%d bytes) = %d bytes, want < %d", css, js, drafts, css+js+drafts, maxPageWeight)
	}
	t.Logf("style.css %d bytes, review.js %d bytes, drafts.js %d bytes", css, js, drafts)
}
