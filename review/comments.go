package review

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"patchwell/core"
	"patchwell/store"
)

// Review comments in replies. A reviewer answers a patch by quoting it and
// writing under the lines they mean (the mutt way):
//
//	> +	delay = 4 * div64_ul(CLOCK_DIV_BY_256 * MICRO, priv->oscclk_rate);
//
//	Please explain the need for div64_ul().
//
// FindComments maps each such run of unquoted text to the last quoted diff
// line before it: its new-side number for added and context lines, its
// old-side number for removed ones. Quoted lines are matched against the
// patch's own diff text, not trusted for numbers, so trimmed hunks,
// re-indented (tabs to spaces), re-wrapped and space-stuffed quotes and
// nested quoting (">>" in a reply to a reply) still land on the right
// line. Text that follows no quoted diff line (top-posting, a reply to the
// commit message) is a general comment with no file.

// Target is one patch a reply may comment on: its Message-ID and diff.
type Target struct {
	MessageID string
	Diff      string
}

// Found is one comment FindComments found in a reply body.
type Found struct {
	PatchMessageID string
	File           string // "" for a general comment
	Side           string // store.SideOld or store.SideNew
	Line           int
	Body           string
	Quote          []string // the diff lines quoted just before, as the patch has them
}

// Limits on what FindComments reads (reply bodies are untrusted).
const (
	maxCommentLines = 20000 // lines of a reply body looked at
	maxDiffLines    = 200000
	maxQuoteShown   = 6 // quoted lines kept per comment for display
)

// dline is one line of a patch's diff.
type dline struct {
	target   int
	file     string
	kind     byte // '+', '-', ' ', '@' (hunk header), 'h' (file header)
	old, new int  // line numbers (the hunk's first line for '@')
	text     string
	norm     string // whitespace-normalised content without the marker
	full     string // whitespace-normalised whole line
}

// diffIndex is the diff lines of the targets with a lookup by content.
type diffIndex struct {
	lines  []dline
	byNorm map[string][]int
	hunks  map[[2]int][]int // (old start, new start) -> '@' lines
	files  map[string][]int // path -> first line of each file section
	// content and end: per target, how many non-empty content lines it
	// has and where the last is.
	content, end []int
}

// normWS collapses runs of white space to one space and trims the ends, so
// that a quote whose tabs became spaces, or whose trailing space a mailer
// dropped, still matches.
func normWS(s string) string {
	// Fast path: ASCII with single inner spaces and no space at the ends.
	clean := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' ||
			c == ' ' && (i == 0 || i == len(s)-1 || s[i+1] == ' ') {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// fileOfDiffGit returns the new path of a "diff --git a/x b/y" line.
func fileOfDiffGit(l string) string {
	name := strings.TrimPrefix(l, "diff --git ")
	if i := strings.LastIndex(name, " b/"); i >= 0 {
		return name[i+3:]
	}
	return name
}

// parseHunk reads "@@ -o[,ol] +n[,nl] @@"; a missing count is 1.
func parseHunk(l string) (o, ol, n, nl int, ok bool) {
	f := strings.Fields(l)
	if len(f) < 3 || f[0] != "@@" || !strings.HasPrefix(f[1], "-") || !strings.HasPrefix(f[2], "+") {
		return 0, 0, 0, 0, false
	}
	o, ol, ok1 := hunkRange(f[1][1:])
	n, nl, ok2 := hunkRange(f[2][1:])
	return o, ol, n, nl, ok1 && ok2
}

// hunkRange reads "start[,count]", bounded so that a hostile header
// cannot overflow the numbers.
func hunkRange(s string) (start, count int, ok bool) {
	count = 1
	if i := strings.IndexByte(s, ','); i >= 0 {
		c, err := strconv.Atoi(s[i+1:])
		if err != nil || c < 0 || c > 1<<30 {
			return 0, 0, false
		}
		count, s = c, s[:i]
	}
	start, err := strconv.Atoi(s)
	if err != nil || start < 0 || start > 1<<30 {
		return 0, 0, false
	}
	return start, count, true
}

func newDiffIndex(targets []Target) *diffIndex {
	ix := &diffIndex{byNorm: map[string][]int{}, hunks: map[[2]int][]int{}, files: map[string][]int{}}
	for ti, t := range targets {
		file := ""
		git := false             // the file section started with "diff --git"
		hunks := 0               // hunks in the file section
		oldLeft, newLeft := 0, 0 // lines the hunk still has on each side
		oldNo, newNo := 0, 0
		setFile := func(p string) {
			file = p
			ix.files[file] = append(ix.files[file], len(ix.lines))
		}
		for _, l := range strings.Split(strings.TrimRight(t.Diff, "\n"), "\n") {
			if len(ix.lines) >= maxDiffLines {
				break
			}
			l = strings.TrimSuffix(l, "\r")
			d := dline{target: ti, kind: 'h', text: l}
			c := byte(' ')
			if l != "" {
				c = l[0]
			}
			switch {
			case (oldLeft > 0 || newLeft > 0) && (c == ' ' && oldLeft > 0 && newLeft > 0 || c == '-' && oldLeft > 0 || c == '+' && newLeft > 0):
				d.kind = c
				switch c {
				case '+':
					d.new = newNo
					newNo, newLeft = newNo+1, newLeft-1
				case '-':
					d.old = oldNo
					oldNo, oldLeft = oldNo+1, oldLeft-1
				default:
					d.old, d.new = oldNo, newNo
					oldNo, newNo, oldLeft, newLeft = oldNo+1, newNo+1, oldLeft-1, newLeft-1
				}
			case c == '\\': // "\ No newline at end of file"
			case strings.HasPrefix(l, "diff --git "):
				git, hunks, oldLeft, newLeft = true, 0, 0, 0
				setFile(fileOfDiffGit(l))
			case strings.HasPrefix(l, "@@ "):
				if o, ol, n, nl, ok := parseHunk(l); ok {
					oldNo, oldLeft, newNo, newLeft = o, ol, n, nl
					d.kind, d.old, d.new = '@', o, n
					hunks++
					ix.hunks[[2]int{o, n}] = append(ix.hunks[[2]int{o, n}], len(ix.lines))
				}
			case strings.HasPrefix(l, "--- "):
				oldLeft, newLeft = 0, 0
				if hunks > 0 {
					git, hunks = false, 0 // a plain diff's next file
				}
				if p, ok := diffHeaderPath(l[4:], "a/"); ok && !git {
					setFile(p)
				}
			case strings.HasPrefix(l, "+++ "):
				if p, ok := diffHeaderPath(l[4:], "b/"); ok && !git && p != file {
					setFile(p)
				}
			default:
				oldLeft, newLeft = 0, 0
			}
			d.file = file
			if d.kind == '+' || d.kind == '-' || d.kind == ' ' {
				d.norm = normWS(l[min(1, len(l)):])
				ix.byNorm[d.norm] = append(ix.byNorm[d.norm], len(ix.lines))
			}
			d.full = normWS(l)
			ix.lines = append(ix.lines, d)
		}
	}
	ix.content, ix.end = make([]int, len(targets)), make([]int, len(targets))
	for i := range ix.end {
		ix.end[i] = -1
	}
	for i := range ix.lines {
		if d := &ix.lines[i]; (d.kind == '+' || d.kind == '-' || d.kind == ' ') && d.norm != "" {
			ix.content[d.target]++
			ix.end[d.target] = i
		}
	}
	return ix
}

// diffHeaderPath reads the path of a "---"/"+++" line without its a/ or b/
// prefix and a trailing tab and timestamp; false for /dev/null.
func diffHeaderPath(s, prefix string) (string, bool) {
	if i := strings.IndexByte(s, '\t'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	if s == "/dev/null" || s == "" {
		return "", false
	}
	return strings.TrimPrefix(s, prefix), true
}

// quoteDepth splits a body line into its quote depth (">", ">>", "> >")
// and the rest after the last ">".
func quoteDepth(l string) (int, string) {
	depth, i := 0, 0
	for i < len(l) {
		switch {
		case l[i] == '>':
			depth++
			i++
		case l[i] == ' ' && depth > 0 && i+1 < len(l) && l[i+1] == '>':
			i++
		default:
			return depth, l[i:]
		}
	}
	return depth, l[i:]
}

// weak reports whether a normalised line is too common to be matched far
// from the previous match ("}", "", "return 0;").
func weak(norm string) bool {
	if len(norm) < 4 {
		return true
	}
	switch norm {
	case "return 0;", "return ret;", "return;", "break;", "} else {", "else {", "#endif", "#else", "default:", "/**", "*/", "});":
		return true
	}
	for _, r := range norm {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return false
		}
	}
	return true
}

// nearby is how far past the previous match a weak line may match.
const nearby = 3

// matcher follows a reply's quoted lines through the diff.
type matcher struct {
	ix     *diffIndex
	cursor int // the last matched diff line, -1 before any
	// partial: a quoted diff line a mailer wrapped over several lines.
	partial    int
	partialAcc string
}

// maxScan bounds how many positions of one line's list nearest looks at
// on each side of the cursor (hostile input repeats a line many times).
const maxScan = 64

// nearest appends to cands the positions of list (ascending) closest to
// the cursor on each side for which ok (nil: any) holds.
func (m *matcher) nearest(cands, list []int, ok func(int) bool) []int {
	i := sort.SearchInts(list, m.cursor+1)
	for j := i; j < len(list) && j < i+maxScan; j++ {
		if ok == nil || ok(list[j]) {
			cands = append(cands, list[j])
			break
		}
	}
	for j := i - 1; j >= 0 && j >= i-maxScan; j-- {
		if list[j] != m.cursor && (ok == nil || ok(list[j])) {
			cands = append(cands, list[j])
			break
		}
	}
	return cands
}

// pick returns the best of candidate positions: the first after the
// cursor, a weak line only close to it; failing that, for a strong line,
// the closest before it.
func (m *matcher) pick(cands []int, isWeak bool) int {
	best := -1
	for _, p := range cands {
		if p > m.cursor && (best < 0 || p < best) {
			best = p
		}
	}
	if best >= 0 && (!isWeak || best-m.cursor <= nearby) {
		return best
	}
	if isWeak {
		return -1
	}
	for _, p := range cands {
		if p < m.cursor && (best < 0 || p > best) {
			best = p
		}
	}
	return best
}

// match finds the diff line a quoted line's content c stands for; -1 if
// none. A header line (diff --git, ---/+++, @@) matches itself.
func (m *matcher) match(c string) int {
	ix := m.ix
	c1 := strings.TrimPrefix(c, " ") // the space after ">"
	t := strings.TrimSpace(c1)
	if t == "" {
		// An empty quoted line is an empty context line only right after
		// the previous match.
		if n := m.cursor + 1; m.cursor >= 0 && n < len(ix.lines) && ix.lines[n].kind == ' ' && ix.lines[n].norm == "" {
			return n
		}
		return -1
	}
	if strings.HasPrefix(t, "diff --git ") {
		return m.pick(m.nearest(nil, ix.files[fileOfDiffGit(normWS(t))], nil), false)
	}
	if strings.HasPrefix(t, "@@ ") {
		if o, _, n, _, ok := parseHunk(normWS(t)); ok {
			return m.pick(m.nearest(nil, ix.hunks[[2]int{o, n}], nil), false)
		}
		return -1
	}
	if strings.HasPrefix(t, "--- ") || strings.HasPrefix(t, "+++ ") {
		if p := m.header(t); p >= 0 {
			return p
		}
	}
	// Continue a wrapped line.
	if m.partial >= 0 {
		acc := m.partialAcc + " " + normWS(t)
		full := ix.lines[m.partial].full
		if full == acc {
			p := m.partial
			m.partial = -1
			return p
		}
		if len(full) > len(acc) && full[len(acc)] == ' ' && strings.HasPrefix(full, acc) {
			m.partialAcc = acc
			return m.partial
		}
		m.partial = -1
	}
	// The marker may follow the ">" directly, after one space, or after
	// two (format=flowed space-stuffing); a context line may have lost its
	// leading space.
	var cands []int
	strong := false
	try := func(marker byte, body string) {
		n := normWS(body)
		cands = m.nearest(cands, ix.byNorm[n], func(p int) bool { return ix.lines[p].kind == marker })
		if len(ix.byNorm[n]) > 0 && !weak(n) {
			strong = true
		}
	}
	for _, v := range []string{c, c1, strings.TrimPrefix(c1, " ")} {
		if v != "" && (v[0] == '+' || v[0] == '-' || v[0] == ' ') {
			try(v[0], v[1:])
		}
	}
	if t[0] != '+' && t[0] != '-' {
		try(' ', t)
	} else if len(cands) == 0 {
		try(t[0], t[1:]) // a marker indented by the mailer
	}
	if p := m.pick(cands, !strong); p >= 0 {
		return p
	}
	// The start of a wrapped line: a long enough prefix of a diff line.
	if nt := normWS(t); len(nt) >= 16 {
		for p := m.cursor + 1; p < len(ix.lines) && p <= m.cursor+200; p++ {
			full := ix.lines[p].full
			if k := ix.lines[p].kind; (k == '+' || k == '-' || k == ' ') && len(full) > len(nt) && full[len(nt)] == ' ' && strings.HasPrefix(full, nt) {
				m.partial, m.partialAcc = p, nt
				return p
			}
		}
	}
	return -1
}

// header finds a quoted "--- a/x" or "+++ b/x" file header after the
// cursor; -1 if there is none.
func (m *matcher) header(t string) int {
	n := normWS(t)
	for p := m.cursor + 1; p < len(m.ix.lines); p++ {
		if l := m.ix.lines[p]; l.kind == 'h' && l.full == n {
			return p
		}
	}
	return -1
}

var (
	// attribution matches the line a mail client puts above a quote.
	attribution = regexp.MustCompile(`(?i)(\b(wrote|writes|said|schrieb|escribió|scrisse|napisał|skrev)|a écrit)\s*:\s*$|^on .*[0-9].*:\s*$|^quoting .*:\s*$`)
	// trimMarker matches a line that stands for deleted quoted text.
	trimMarker = regexp.MustCompile(`(?i)^[\[<(]?\s*(\.{2,}|…|snip(ped)?|trimmed|cut)\s*[\]>)]?$`)
	// outlookQuote starts a quote without ">" (Outlook's top-posting).
	outlookQuote = regexp.MustCompile(`^(-{3,} ?Original Message ?-{3,}|_{20,})\s*$`)
)

// FindComments returns the comments of a reply body (decoded text, as
// patchmail.Mail.Body gives it) on targets: one patch for a reply under a
// patch, every patch of the series for a reply under the cover letter.
// General comments name anchor, the message the reply answers.
func FindComments(targets []Target, anchor, body string) []Found {
	return findComments(newDiffIndex(targets), targets, anchor, body)
}

// findComments is FindComments on the targets' index, built once for all
// the replies to the same patches.
func findComments(ix *diffIndex, targets []Target, anchor, body string) []Found {
	m := &matcher{ix: ix, cursor: -1, partial: -1}
	lines := strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n")
	if len(lines) > maxCommentLines {
		lines = lines[:maxCommentLines]
	}
	var out []Found
	last := -1      // the last diff line matched in the current quote block
	lastDepth := 0  // its quote depth
	var shown []int // matched lines of the current quote block
	var run []string
	inSig := false
	flush := func(beforeQuote bool) {
		// A run that starts with a trim mark ("...") answers quoted text
		// the reviewer cut, not the line above it.
		elided := false
		for _, l := range run {
			if t := strings.TrimSpace(l); t != "" {
				elided = trimMarker.MatchString(t)
				break
			}
		}
		text := cleanRun(run, beforeQuote)
		run = run[:0]
		if text == "" {
			return
		}
		f := Found{PatchMessageID: anchor, Body: text}
		if !beforeQuote && valediction(text) {
			return // "Thanks,\nName" under the whole quote is no comment
		}
		if last >= 0 && !elided && !m.wholePatch(shown, last) && !onlyTrailers(text) {
			at := last
			if ix.lines[at].kind == '@' && at+1 < len(ix.lines) && strings.IndexByte("+- ", ix.lines[at+1].kind) >= 0 {
				at++ // a comment on a hunk header is on its first line
			}
			d := ix.lines[at]
			f.PatchMessageID, f.File = targets[d.target].MessageID, d.file
			switch d.kind {
			case '+', ' ':
				f.Side, f.Line = store.SideNew, d.new
			case '-':
				f.Side, f.Line = store.SideOld, d.old
			}
			for _, p := range shown[max(0, len(shown)-maxQuoteShown):] {
				f.Quote = append(f.Quote, ix.lines[p].text)
			}
		}
		out = append(out, f)
	}
	for i, l := range lines {
		depth, rest := quoteDepth(l)
		if depth > 0 {
			if len(run) > 0 || inSig {
				flush(true)
				last, shown = -1, shown[:0]
			}
			inSig = false
			if p := m.match(rest); p >= 0 && ix.lines[p].kind == ' ' && ix.lines[p].norm == "" {
				// An empty context line: the comment still answers the
				// line above it.
				m.cursor = p
			} else if p >= 0 {
				if len(shown) == 0 || shown[len(shown)-1] != p {
					shown = append(shown, p)
				}
				m.cursor, last, lastDepth = p, p, depth
			} else if last >= 0 && depth >= lastDepth && strings.TrimSpace(rest) != "" {
				// Quoted text that is not the diff (a signature, a
				// mangled or foreign line) comes between: what follows
				// answers that, not the diff line. Shallower quoted text is
				// an earlier reply to the diff line and keeps it.
				last, shown = -1, shown[:0]
			}
			continue
		}
		if inSig {
			continue
		}
		if l == "-- " || l == "--" {
			inSig = true
			continue
		}
		if outlookQuote.MatchString(l) {
			lines = lines[:i]
			break
		}
		if strings.TrimSpace(l) == "" && len(run) == 0 {
			continue
		}
		run = append(run, l)
	}
	flush(false)
	return out
}

// wholePatch reports whether a quote block (its matched lines) is
// the whole of a patch down to its last line: text under it is a
// bottom-posted general reply, not a comment on that last line.
func (m *matcher) wholePatch(shown []int, last int) bool {
	t := m.ix.lines[last].target
	total, end := m.ix.content[t], m.ix.end[t]
	return total >= 10 && last == end && len(shown)*10 >= total*8
}

// byTrailer matches a trailer a reviewer gives (Reviewed-by:,
// Acked-by:, Tested-by: ...): given to the patch, not to a diff line.
var byTrailer = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*(-[A-Za-z0-9]+)*-by:\s*\S`)

// onlyTrailers reports whether every non-empty line of text is a trailer.
func onlyTrailers(text string) bool {
	n := 0
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		if !byTrailer.MatchString(l) {
			return false
		}
		n++
	}
	return n > 0
}

// valedictionRe matches the closing words of a mail.
var valedictionRe = regexp.MustCompile(`(?i)^(best|kind|warm)?\s*(regards|thanks|thank you|cheers|greetings|br|yours( sincerely| truly)?|sincerely|ciao|bye)\b[ ,.!]*`)

// valediction reports whether text is only a mail's closing ("Thanks,",
// "Best regards,\nKrzysztof", or a bare name).
func valediction(text string) bool {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) > 3 {
		return false
	}
	first := strings.TrimSpace(lines[0])
	if loc := valedictionRe.FindStringIndex(first); loc != nil && (loc[1] == len(first) || len(lines) == 1 && len(first) < 30) {
		return true
	}
	// A bare signature name: one or two short words, no sentence.
	return len(lines) == 1 && len(strings.Fields(first)) <= 2 && len(first) <= 24 && !strings.ContainsAny(first, ".?!:;()'\"`=/*") && first != strings.ToLower(first)
}

// cleanRun turns a run of unquoted lines into a comment: trim markers
// ("...", "[snip]") and blank lines at its ends go, and so does the
// attribution line ("On ..., X wrote:") when a quote follows.
func cleanRun(run []string, beforeQuote bool) string {
	trim := func() {
		for len(run) > 0 && (strings.TrimSpace(run[0]) == "" || trimMarker.MatchString(strings.TrimSpace(run[0]))) {
			run = run[1:]
		}
		for len(run) > 0 && (strings.TrimSpace(run[len(run)-1]) == "" || trimMarker.MatchString(strings.TrimSpace(run[len(run)-1]))) {
			run = run[:len(run)-1]
		}
	}
	trim()
	if beforeQuote && len(run) > 0 && attribution.MatchString(strings.TrimSpace(run[len(run)-1])) {
		lastL := strings.TrimSpace(run[len(run)-1])
		run = run[:len(run)-1]
		// Gmail wraps a long attribution: "On Tue, ... Name <" / "addr> wrote:".
		if n := len(run); n > 0 && !strings.HasPrefix(strings.ToLower(lastL), "on ") &&
			strings.HasPrefix(strings.ToLower(strings.TrimSpace(run[n-1])), "on ") {
			run = run[:n-1]
		}
		trim()
	}
	return strings.Join(run, "\n")
}

// commentOf makes a store.LineComment of a Found in reply m.
func commentOf(f Found, m *store.Message) store.LineComment {
	return store.LineComment{
		PatchMessageID: f.PatchMessageID, File: f.File, Side: f.Side, Line: f.Line,
		Author: m.From, Date: m.Date, Body: f.Body, MessageID: m.MessageID, List: m.List, Quote: f.Quote,
	}
}

// SeriesComments returns the review comments on the patches of series id
// found in the replies of its threads, with their resolved marks, and the
// unresolved line comments of the previous revision on patches this one
// carries unchanged (same patch-id), marked CarriedFrom. Comments come in
// patch order, then in the order the replies arrived.
func (s *Service) SeriesComments(ctx context.Context, id int64) ([]store.LineComment, error) {
	// Kept for the store's generation, read first (as the page cache
	// does): a write while they are made leaves them under the old one.
	gen, gerr := s.st.Generation(ctx)
	if gerr == nil {
		s.dc.mu.Lock()
		s.dc.turn(gen)
		cs, ok := s.dc.comments[id]
		s.dc.mu.Unlock()
		if ok {
			return slices.Clone(cs), nil
		}
	}
	cs, _, err := s.seriesComments(ctx, id, 0, s.newThreadCache())
	if err == nil && gerr == nil {
		s.dc.mu.Lock()
		if s.dc.gen == gen {
			if len(s.dc.comments) >= maxCommentsCache {
				s.dc.comments = map[int64][]store.LineComment{}
			}
			s.dc.comments[id] = slices.Clone(cs)
		}
		s.dc.mu.Unlock()
	}
	return cs, err
}

// threadCache keeps the parsed mail of the threads walked for one
// SeriesComments call: revisions of a series usually share a thread.
type threadCache struct {
	walked map[int64]bool
	parsed map[int64]parsedMail // by message row id
	// texts keeps parsed mail across calls, by content hash.
	texts *readCache
}

func (s *Service) newThreadCache() *threadCache {
	return &threadCache{walked: map[int64]bool{}, parsed: map[int64]parsedMail{}, texts: s.c}
}

type parsedMail struct {
	m          store.Message
	body, diff string
	automatic  bool // a program wrote it (Auto-Submitted)
}

// load parses the patches and replies of thread tid in list, once.
func (c *threadCache) load(ctx context.Context, st store.Store, tid int64, list string) error {
	if c.walked[tid] {
		return nil
	}
	c.walked[tid] = true
	return st.WalkThread(ctx, tid, func(m *store.Message, raw []byte) error {
		if m.List != list || (m.Kind != core.KindPatch && m.Kind != core.KindReply) {
			return nil
		}
		t := c.texts.mailTexts(raw)
		if !t.OK {
			return nil // stored but unparsable: nothing to show
		}
		c.parsed[m.ID] = parsedMail{m: *m, body: t.Body, diff: t.Diff, automatic: t.Automatic}
		return nil
	})
}

// maxCarry bounds how many revisions back comments are carried from.
const maxCarry = 8

func (s *Service) seriesComments(ctx context.Context, id int64, depth int, cache *threadCache) ([]store.LineComment, map[string]string, error) {
	se, err := s.st.Series(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	patches, err := s.st.Patches(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	patchAt := make(map[string]int, len(patches))
	threads := []int64{se.ThreadID}
	for i, p := range patches {
		patchAt[p.MessageID] = i
		if m, err := s.st.Message(ctx, se.List, p.MessageID); err == nil && !slices.Contains(threads, m.ThreadID) {
			threads = append(threads, m.ThreadID)
		}
	}
	msgs, err := s.st.ThreadMessages(ctx, threads)
	if err != nil {
		return nil, nil, err
	}
	byID := make(map[string]*store.Message, len(msgs))
	for i := range msgs {
		if _, ok := byID[msgs[i].MessageID]; !ok {
			byID[msgs[i].MessageID] = &msgs[i]
		}
	}
	// anchor finds the patch or cover letter of this series a reply is
	// under, through its parents, or else its References.
	anchor := func(m *store.Message) string {
		parent := m.InReplyTo
		for hops := 0; parent != "" && hops < 100; hops++ {
			if _, ok := patchAt[parent]; ok || (parent == se.CoverMessageID && parent != "") {
				return parent
			}
			pm := byID[parent]
			if pm == nil || (pm.SeriesID != 0 && pm.SeriesID != se.ID) {
				break
			}
			parent = pm.InReplyTo
		}
		// The References, newest first, up to a message of another
		// revision: a reply to v2 sent in reply to v1's cover letter
		// (git send-email --in-reply-to) names v1's cover too, and is
		// v2's, not v1's.
		for i := len(m.References) - 1; i >= 0; i-- {
			r := m.References[i]
			if _, ok := patchAt[r]; ok || (r == se.CoverMessageID && r != "") {
				return r
			}
			if rm := byID[r]; rm != nil && rm.SeriesID != 0 && rm.SeriesID != se.ID {
				return ""
			}
		}
		return ""
	}
	anchors := map[int64]string{} // message row id -> anchor
	for i := range msgs {
		m := &msgs[i]
		if m.Kind != core.KindReply || m.List != se.List {
			continue
		}
		if a := anchor(m); a != "" {
			anchors[m.ID] = a
		}
	}
	diffs := make(map[string]string, len(patches))
	var replies []*store.Message
	bodies := map[int64]string{}
	for _, tid := range threads {
		if err := cache.load(ctx, s.st, tid, se.List); err != nil {
			return nil, nil, err
		}
	}
	for i := range msgs {
		m := &msgs[i]
		pm, ok := cache.parsed[m.ID]
		if !ok {
			continue
		}
		if _, isPatch := patchAt[m.MessageID]; isPatch {
			if _, ok := diffs[m.MessageID]; !ok {
				diffs[m.MessageID] = pm.diff
			}
		} else if _, isReply := anchors[m.ID]; isReply {
			replies = append(replies, m)
			bodies[m.ID] = pm.body
		}
	}
	sort.SliceStable(replies, func(i, j int) bool { return replies[i].Arrived.Before(replies[j].Arrived) })
	all := make([]Target, len(patches))
	for i, p := range patches {
		all[i] = Target{MessageID: p.MessageID, Diff: diffs[p.MessageID]}
	}
	var out []store.LineComment
	indexes := map[string]*diffIndex{} // by anchor
	for _, r := range replies {
		a := anchors[r.ID]
		targets := all
		if i, ok := patchAt[a]; ok {
			targets = all[i : i+1]
		}
		ix := indexes[a]
		if ix == nil {
			ix = newDiffIndex(targets)
			indexes[a] = ix
		}
		for _, f := range findComments(ix, targets, a, bodies[r.ID]) {
			c := commentOf(f, r)
			c.Bot = cache.parsed[r.ID].automatic
			out = append(out, c)
		}
	}

	// Carry forward from the previous revision.
	if se.Previous != 0 && depth < maxCarry {
		prev, prevDiffs, err := s.seriesComments(ctx, se.Previous, depth+1, cache)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, nil, err
		}
		prevPatches, err := s.st.Patches(ctx, se.Previous)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, nil, err
		}
		prevSe, _ := s.st.Series(ctx, se.Previous)
		byPatchID := map[string]string{} // patch-id -> previous patch Message-ID
		for _, p := range prevPatches {
			if p.PatchID != "" {
				byPatchID[p.PatchID] = p.MessageID
			}
		}
		// A reply is shown once: never carried beside itself.
		direct := map[string]bool{}
		for _, c := range out {
			direct[c.MessageID] = true
		}
		// A changed patch is its predecessor's by commit subject, when
		// one previous patch has it and no patch kept its patch-id.
		bySubject := map[string]string{}
		subjects := map[string]int{}
		for _, p := range prevPatches {
			if p.CommitSubject != "" {
				bySubject[p.CommitSubject] = p.MessageID
				subjects[p.CommitSubject]++
			}
		}
		for _, p := range patches {
			old, same := byPatchID[p.PatchID]
			same = same && p.PatchID != ""
			if !same {
				if subjects[p.CommitSubject] != 1 {
					continue
				}
				old = bySubject[p.CommitSubject]
			}
			for _, c := range prev {
				if c.PatchMessageID != old || c.File == "" || c.Line == 0 || c.Resolved || direct[c.MessageID] {
					continue
				}
				file, side, line := c.File, c.Side, c.Line
				if same {
					file, side, line = remapLine(prevDiffs[old], diffs[p.MessageID], file, side, line)
				} else {
					var ok bool
					// The patch changed: only where the line still is.
					if file, side, line, ok = findLine(prevDiffs[old], diffs[p.MessageID], file, side, line); !ok {
						continue
					}
				}
				if c.CarriedFrom == 0 {
					c.CarriedPatch, c.CarriedFile, c.CarriedSide, c.CarriedLine = c.PatchMessageID, c.File, c.Side, c.Line
					if prevSe != nil {
						c.CarriedFrom = prevSe.Version
					}
				}
				c.PatchMessageID = p.MessageID
				c.File, c.Side, c.Line = file, side, line
				out = append(out, c)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		pi, iok := patchAt[out[i].PatchMessageID]
		pj, jok := patchAt[out[j].PatchMessageID]
		if !iok {
			pi = -1
		}
		if !jok {
			pj = -1
		}
		return pi < pj
	})
	if err := s.markResolved(ctx, out); err != nil {
		return nil, nil, err
	}
	return out, diffs, nil
}

func (s *Service) markResolved(ctx context.Context, cs []store.LineComment) error {
	var ids []string
	seen := map[string]bool{}
	for i := range cs {
		k := cs[i].Key()
		if !seen[k.PatchMessageID] {
			seen[k.PatchMessageID] = true
			ids = append(ids, k.PatchMessageID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rs, err := s.st.Resolutions(ctx, ids)
	if err != nil {
		return err
	}
	type rk struct {
		reply, patch, file, side string
		line                     int
	}
	issues, err := s.st.Issues(ctx, ids)
	if err != nil {
		return err
	}
	res := make(map[rk]store.Resolution, len(rs))
	for _, r := range rs {
		res[rk{r.ReplyMessageID, r.PatchMessageID, r.File, r.Side, r.Line}] = r
	}
	open := make(map[rk]bool, len(issues))
	for _, r := range issues {
		open[rk{r.ReplyMessageID, r.PatchMessageID, r.File, r.Side, r.Line}] = true
	}
	for i := range cs {
		k := cs[i].Key()
		if r, ok := res[rk{k.ReplyMessageID, k.PatchMessageID, k.File, k.Side, k.Line}]; ok {
			cs[i].Resolved, cs[i].ResolvedBy, cs[i].ResolvedAt = true, r.By, r.At
		}
		cs[i].Issue = open[rk{k.ReplyMessageID, k.PatchMessageID, k.File, k.Side, k.Line}]
	}
	return nil
}

// remapLine moves a comment from a diff line of oldDiff to the line at the
// same place in newDiff (an unchanged patch may sit at other line numbers
// after a rebase). Where the diffs differ there, it keeps the old place.
// findLine finds the line a comment on a changed patch answered (file,
// side, line of oldDiff) in newDiff: the line of the same file, kind and
// text (whitespace aside), the one nearest the old position when the text
// comes back more than once; ok false when the new diff no longer has it.
func findLine(oldDiff, newDiff, file, side string, line int) (string, string, int, bool) {
	oldIx := newDiffIndex([]Target{{Diff: oldDiff}})
	var at *dline
	for i := range oldIx.lines {
		d := &oldIx.lines[i]
		if d.file != file || (d.kind != '+' && d.kind != '-' && d.kind != ' ') {
			continue
		}
		if (side == store.SideOld && d.kind == '-' && d.old == line) || (side != store.SideOld && d.kind != '-' && d.new == line) {
			at = d
			break
		}
	}
	if at == nil || strings.TrimSpace(at.norm) == "" {
		return file, side, line, false // a blank line says too little to follow
	}
	newIx := newDiffIndex([]Target{{Diff: newDiff}})
	var best *dline
	dist := func(d *dline) int {
		if side == store.SideOld {
			return abs(d.old - line)
		}
		return abs(d.new - line)
	}
	for i := range newIx.lines {
		d := &newIx.lines[i]
		if d.file != file || d.kind != at.kind || d.norm != at.norm {
			continue
		}
		if best == nil || dist(d) < dist(best) {
			best = d
		}
	}
	if best == nil {
		return file, side, line, false
	}
	if best.kind == '-' {
		return best.file, store.SideOld, best.old, true
	}
	return best.file, store.SideNew, best.new, true
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func remapLine(oldDiff, newDiff, file, side string, line int) (string, string, int) {
	ord := func(ix *diffIndex, want func(d *dline) bool) int {
		n := 0
		for i := range ix.lines {
			d := &ix.lines[i]
			if d.kind != '+' && d.kind != '-' && d.kind != ' ' {
				continue
			}
			if want(d) {
				return n
			}
			n++
		}
		return -1
	}
	oldIx := newDiffIndex([]Target{{Diff: oldDiff}})
	k := ord(oldIx, func(d *dline) bool {
		if d.file != file {
			return false
		}
		if side == store.SideOld {
			return d.kind == '-' && d.old == line
		}
		return d.kind != '-' && d.new == line
	})
	if k < 0 {
		return file, side, line
	}
	newIx := newDiffIndex([]Target{{Diff: newDiff}})
	n := 0
	for i := range newIx.lines {
		d := &newIx.lines[i]
		if d.kind != '+' && d.kind != '-' && d.kind != ' ' {
			continue
		}
		if n == k {
			if d.file != file {
				return file, side, line
			}
			if d.kind == '-' {
				return d.file, store.SideOld, d.old
			}
			return d.file, store.SideNew, d.new
		}
		n++
	}
	return file, side, line
}

// ResolvableComments are the comments a series' page may resolve: its
// own (SeriesComments) and the issues raised on its previous revision
// (Issues).
func (s *Service) ResolvableComments(ctx context.Context, seriesID int64) ([]store.LineComment, error) {
	cs, err := s.SeriesComments(ctx, seriesID)
	if err != nil {
		return nil, err
	}
	is, err := s.Issues(ctx, seriesID)
	if err != nil {
		return nil, err
	}
	for _, i := range is {
		if i.OnSeries != seriesID && i.CarriedFrom == 0 {
			cs = append(cs, i.LineComment)
		}
	}
	return cs, nil
}

// ResolveComment marks the comment of series seriesID with key k (its
// LineComment.Key: reply, patch, file, side, line) resolved by who, or
// clears the mark.
// store.ErrNotFound when the series shows no such comment.
func (s *Service) ResolveComment(ctx context.Context, seriesID int64, k store.Resolution, who string, resolved bool) error {
	cs, err := s.ResolvableComments(ctx, seriesID)
	if err != nil {
		return err
	}
	for i := range cs {
		ck := cs[i].Key()
		if ck.ReplyMessageID == k.ReplyMessageID && ck.PatchMessageID == k.PatchMessageID && ck.File == k.File && ck.Side == k.Side && ck.Line == k.Line {
			ck.By, ck.At = who, time.Now().UTC()
			return s.st.Update(ctx, func(tx store.Tx) error { return tx.SetResolution(ctx, ck, resolved) })
		}
	}
	return fmt.Errorf("comment: %w", store.ErrNotFound)
}
