package store

// SeriesDiff is what changed from one revision of a series to another:
// git range-diff's output when the list has a git repository, otherwise
// each patch of the older revision paired with its counterpart in the
// newer one and the diff between their texts (an interdiff).
type SeriesDiff struct {
	Old Series `json:"old"` // the older revision
	New Series `json:"new"` // the newer revision
	// Method is "range-diff" (RangeDiff holds git range-diff's output) or
	// "diff-of-diffs" (Patches holds the pairs).
	Method    string      `json:"method"`
	RangeDiff string      `json:"range_diff,omitempty"`
	Patches   []PatchDiff `json:"patches,omitempty"`
}

// Patch pair statuses of a SeriesDiff.
const (
	PatchUnchanged = "unchanged" // same patch-id and commit message
	PatchChanged   = "changed"
	PatchAdded     = "added"   // only in the newer revision
	PatchDropped   = "dropped" // only in the older revision
)

// PatchDiff is one patch of a SeriesDiff: a pair, or a patch only one
// revision has.
type PatchDiff struct {
	Status string `json:"status"`
	// PairedBy says how the pair was found: "patch-id", "subject" or
	// "index"; "" for added and dropped patches.
	PairedBy string `json:"paired_by,omitempty"`
	Old      *Patch `json:"old,omitempty"`
	New      *Patch `json:"new,omitempty"`
	// Diff is a unified diff from the older patch's text (commit message,
	// then its diff) to the newer one's; "" when unchanged, added or
	// dropped.
	Diff string `json:"diff,omitempty"`
	// Note says why Diff is missing for a changed pair (too large).
	Note string `json:"note,omitempty"`
}
