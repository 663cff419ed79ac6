package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"patchwell/core"
)

// A submission is a series a signed-in user prepares in the browser
// (package submit): fetched from a git branch or pasted as git
// format-patch output, shown as a preview, and sent to the list as mail
// on "Send". Until then it is a draft, bound to its user, that expires;
// once sent it records the message that started it (its cover letter, or
// its only patch), so the user's next version finds it.

// Submission is one prepared (or sent) series.
type Submission struct {
	ID      string // random, unguessable: the preview's address
	UserID  int64
	List    string
	Repo    string // the git URL or path fetched; "" for pasted patches
	Branch  string // its branch
	Title   string // the cover letter's subject (the patch's, for one)
	Version int
	Created time.Time
	// Sent is when it was sent (zero: a draft); MessageID its first
	// message's Message-ID (without <>).
	Sent      time.Time
	MessageID string
	Draft     SubmitDraft
}

// SubmitDraft is what a submission's preview shows and "Send" writes.
type SubmitDraft struct {
	// From is the person submitting (the signed-in user).
	From core.Person `json:"from"`
	// Base is the commit the patches apply to (base-commit:); ListBranch
	// the list's branch when the list has a repository.
	Base       string        `json:"base"`
	ListBranch string        `json:"list_branch,omitempty"`
	Patches    []SubmitPatch `json:"patches"`
	// CoverSubject and CoverBody are the cover letter's words (the
	// user's); CoverStats its shortlog and diffstat as git format-patch
	// writes them; RangeDiff "Range-diff against vN:" and git range-diff's
	// lines, when there is a previous version to compare with.
	CoverSubject string `json:"cover_subject"`
	CoverBody    string `json:"cover_body"`
	CoverStats   string `json:"cover_stats,omitempty"`
	RangeDiff    string `json:"range_diff,omitempty"`
	// Previous is the user's earlier version of this series (same title
	// or branch); Reroll: send as its next version (In-Reply-To its
	// first message, with the range-diff).
	Previous *SubmitPrevious `json:"previous,omitempty"`
	Reroll   bool            `json:"reroll"`
	RFC      bool            `json:"rfc"`
	Cc       []string        `json:"cc,omitempty"`
	// Warnings are what the preview warns about (no Signed-off-by,
	// whitespace errors, does not apply to the list's branch, large).
	Warnings []string `json:"warnings,omitempty"`
	// Signature is the line after "-- " that git format-patch ends each
	// mail with (git's version).
	Signature string `json:"signature"`
}

// SubmitPrevious is the earlier version a submission follows.
type SubmitPrevious struct {
	SeriesID  int64  `json:"series_id"`
	MessageID string `json:"message_id"`
	Version   int    `json:"version"`
	Title     string `json:"title"`
}

// SubmitPatch is one patch of a submission, as git format-patch wrote it.
type SubmitPatch struct {
	Author  core.Person `json:"author"`
	Date    time.Time   `json:"date"`
	Subject string      `json:"subject"` // the commit's subject line
	// Body is the mail body git format-patch wrote (the commit message,
	// "---", the diffstat, the diff, the signature); Message, Stat and
	// Diff are its parts for the preview.
	Body    string `json:"body"`
	Message string `json:"message"`
	Stat    string `json:"stat"`
	Diff    string `json:"diff"`
}

// SaveSubmission stores a submission (a new one, or a draft's changes).
func (s *DB) SaveSubmission(ctx context.Context, sub *Submission) error {
	data, err := json.Marshal(sub.Draft)
	if err != nil {
		return err
	}
	if sub.Created.IsZero() {
		sub.Created = time.Now()
	}
	_, err = s.write(ctx, `INSERT INTO submissions(id, user_id, list, repo, branch, title, version, data, created)
		VALUES(?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET title = excluded.title, version = excluded.version, data = excluded.data
		WHERE submissions.user_id = excluded.user_id AND submissions.sent = 0`,
		sub.ID, sub.UserID, sub.List, sub.Repo, sub.Branch, sub.Title, sub.Version, string(data), sub.Created.Unix())
	if err != nil {
		return fmt.Errorf("save submission: %w", err)
	}
	return nil
}

const submissionCols = `id, user_id, list, repo, branch, title, version, data, message_id, created, sent`

func scanSubmission(sc scanner) (*Submission, error) {
	var sub Submission
	var data string
	var created, sent int64
	if err := sc.Scan(&sub.ID, &sub.UserID, &sub.List, &sub.Repo, &sub.Branch, &sub.Title, &sub.Version, &data, &sub.MessageID, &created, &sent); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(data), &sub.Draft); err != nil {
		return nil, fmt.Errorf("submission %s: %w", sub.ID, err)
	}
	sub.Created = time.Unix(created, 0).UTC()
	if sent != 0 {
		sub.Sent = time.Unix(sent, 0).UTC()
	}
	return &sub, nil
}

// Submission returns a user's submission; ErrNotFound for an unknown id
// or another user's.
func (s *DB) Submission(ctx context.Context, id string, userID int64) (*Submission, error) {
	sub, err := scanSubmission(s.r.QueryRowContext(ctx, `SELECT `+submissionCols+` FROM submissions WHERE id = ? AND user_id = ?`, id, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("submission: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("submission: %w", err)
	}
	return sub, nil
}

// SubmissionByMessage returns the sent submission whose first message is
// messageID; ErrNotFound when none is.
func (s *DB) SubmissionByMessage(ctx context.Context, messageID string) (*Submission, error) {
	if messageID == "" {
		return nil, fmt.Errorf("submission: %w", ErrNotFound)
	}
	sub, err := scanSubmission(s.r.QueryRowContext(ctx, `SELECT `+submissionCols+` FROM submissions WHERE message_id = ? AND sent != 0`, messageID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("submission: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("submission: %w", err)
	}
	return sub, nil
}

// SentSubmissions returns a user's submissions sent since (on list; ""
// for every list), newest first.
func (s *DB) SentSubmissions(ctx context.Context, userID int64, list string, since time.Time) ([]Submission, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+submissionCols+` FROM submissions
		WHERE user_id = ? AND (list = ? OR ? = '') AND sent != 0 AND sent >= ? ORDER BY sent DESC, created DESC LIMIT 1000`,
		userID, list, list, since.Unix())
	return collect(rows, err, "submissions", scanSubmission)
}

// MarkSubmissionSent records that a draft is being sent as messageID;
// ErrConflict when it was sent already (a second "Send"), ErrNotFound
// for an unknown one. UnmarkSubmissionSent undoes it when sending
// failed.
func (s *DB) MarkSubmissionSent(ctx context.Context, id string, userID int64, messageID string, at time.Time) error {
	res, err := s.write(ctx, `UPDATE submissions SET sent = ?, message_id = ? WHERE id = ? AND user_id = ? AND sent = 0`,
		at.Unix(), messageID, id, userID)
	if err != nil {
		return fmt.Errorf("mark submission sent: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if _, err := s.Submission(ctx, id, userID); err != nil {
			return err
		}
		return fmt.Errorf("submission %s was sent already: %w", id, ErrConflict)
	}
	return nil
}

// UnmarkSubmissionSent makes a submission a draft again.
func (s *DB) UnmarkSubmissionSent(ctx context.Context, id string, userID int64) error {
	if _, err := s.write(ctx, `UPDATE submissions SET sent = 0, message_id = '' WHERE id = ? AND user_id = ?`, id, userID); err != nil {
		return fmt.Errorf("unmark submission: %w", err)
	}
	return nil
}

// DeleteDraftSubmissions removes the drafts (never sent) created before.
func (s *DB) DeleteDraftSubmissions(ctx context.Context, before time.Time) error {
	if _, err := s.write(ctx, `DELETE FROM submissions WHERE sent = 0 AND created < ?`, before.Unix()); err != nil {
		return fmt.Errorf("delete draft submissions: %w", err)
	}
	return nil
}

// SubmitRequest is the submit form: a branch of a repository, or
// pasted (or uploaded) git format-patch output; Base is the commit the
// patches apply to ("": the merge-base with the list's branch, or the
// paste's base-commit:, or the branch's head).
type SubmitRequest struct {
	List    string
	Repo    string
	Branch  string
	Base    string
	Patches string
}

// SubmitEdit is what the preview lets the user change before sending.
type SubmitEdit struct {
	CoverSubject string
	CoverBody    string
	Version      int
	RFC          bool
	Reroll       bool
	Cc           []string
}
