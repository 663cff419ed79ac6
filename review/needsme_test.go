package review

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"patchwell/store"
	"patchwell/store/pgtest"
)

// needMail is a message with To and Cc.
func needMail(from, to, cc, msgid, inReplyTo, subject string, n int, body string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\n", from, to)
	if cc != "" {
		fmt.Fprintf(&b, "Cc: %s\r\n", cc)
	}
	fmt.Fprintf(&b, "Message-ID: <%s>\r\nSubject: %s\r\nDate: Mon, 5 Aug 2024 10:%02d:00 +0000\r\n", msgid, subject, n)
	if inReplyTo != "" {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\r\nReferences: <%s>\r\n", inReplyTo, inReplyTo)
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return []byte(b.String())
}

// needSeries is a one-patch series (a cover letter and one patch) of
// version v on list, from from, Cc cc.
func needSeries(list, from, cc, stem, title string, v, n int) [][]byte {
	ver := ""
	if v > 1 {
		ver = fmt.Sprintf(" v%d", v)
	}
	cover := fmt.Sprintf("%s-v%d-0@example.org", stem, v)
	return [][]byte{
		needMail(from, list+"@example.org", cc, cover, "", fmt.Sprintf("[PATCH%s 0/1] %s", ver, title), n, "A series.\n"),
		needMail(from, list+"@example.org", cc, fmt.Sprintf("%s-v%d-1@example.org", stem, v), cover,
			fmt.Sprintf("[PATCH%s 1/1] %s", ver, title), n+1,
			title+fmt.Sprintf(" (v%d)\n\nSigned-off-by: %s\n---\n", v, from)+
				testDiff+"-- \n2.45.0\n"),
	}
}

// TestNeedsMe: each reason on each backend, and what takes a series
// off: a review, a private list without a role.
func TestNeedsMe(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		st, err := store.Open(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		testNeedsMe(t, st)
	})
	t.Run("postgres", func(t *testing.T) {
		st, err := store.OpenPostgres(context.Background(), pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		testNeedsMe(t, st)
	})
}

func testNeedsMe(t *testing.T, st *store.DB) {
	ctx := context.Background()
	for _, l := range []store.List{{Name: "dev"}, {Name: "sec", Visibility: store.VisibilityPrivate}} {
		if _, err := st.CreateList(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	in := NewIngester(st, Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer in.Close()
	post := func(list string, raws ...[]byte) {
		t.Helper()
		for _, raw := range raws {
			if err := in.Post(ctx, Post{Lists: []string{list}, Raw: raw}); err != nil {
				t.Fatalf("Post() = %v", err)
			}
		}
	}
	user := func(email string) *store.User {
		u, err := st.CreateUser(ctx, store.User{Email: email}, "x")
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	mary, ann, rita := user("mary@example.org"), user("ann@example.org"), user("rita@example.org")
	svc := NewService(st)
	// needs renders a user's todo as "reason subject" lines.
	needs := func(u *store.User) string {
		t.Helper()
		items, err := svc.NeedsMe(ctx, u)
		if err != nil {
			t.Fatalf("NeedsMe(%s) = %v", u.Email, err)
		}
		var b strings.Builder
		for _, it := range items {
			if it.Head == 0 || it.Since.IsZero() {
				t.Errorf("%s: %+v: no head message or no date", u.Email, it)
			}
			fmt.Fprintf(&b, "%s %s\n", it.Reason, it.Subject)
		}
		return b.String()
	}
	expect := func(u *store.User, want string) {
		t.Helper()
		if got := needs(u); got != want {
			t.Errorf("NeedsMe(%s):\n%s\nwant:\n%s", u.Email, got, want)
		}
	}
	const annFrom, ritaFrom, maryFrom = "Ann Author <ann@example.org>", "Rita Reviewer <rita@example.org>", "Mary Maint <Mary@Example.org>"

	// Asked: Cc names Mary (any case).
	post("dev", needSeries("dev", annFrom, "Mary Maint <MARY@example.org>", "wdt", "wdt: fix", 1, 0)...)
	expect(mary, "asked wdt: fix\n")
	expect(ann, "")
	expect(rita, "")

	// Rita reviews v1: Ann has feedback; Rita was not asked.
	post("dev", needMail(ritaFrom, "dev@example.org", "", "r1@example.org", "wdt-v1-1@example.org", "Re: [PATCH 1/1] wdt: fix", 5,
		"Looks fine.\n\nReviewed-by: Rita Reviewer <rita@example.org>\n"))
	expect(ann, "feedback wdt: fix\n")
	expect(rita, "")
	// Mary reviews it too: no longer asked.
	post("dev", needMail(maryFrom, "dev@example.org", "", "m1@example.org", "wdt-v1-0@example.org", "Re: [PATCH 0/1] wdt: fix", 6,
		"Acked-by: Mary Maint <mary@example.org>\n"))
	expect(mary, "")

	// v2, not Cc Mary: new revision for both reviewers; Ann has no
	// newer feedback than her v2.
	post("dev", needSeries("dev", annFrom, "", "wdt", "wdt: fix", 2, 10)...)
	expect(rita, "new-revision wdt: fix\n")
	expect(mary, "new-revision wdt: fix\n")
	expect(ann, "")
	// Rita replies to v2: it leaves her todo.
	post("dev", needMail(ritaFrom, "dev@example.org", "", "r2@example.org", "wdt-v2-1@example.org", "Re: [PATCH v2 1/1] wdt: fix", 15, "Thanks.\n"))
	expect(rita, "")
	expect(ann, "feedback wdt: fix\n")
	// Ann answers: her feedback is read.
	post("dev", needMail(annFrom, "dev@example.org", "", "a2@example.org", "r2@example.org", "Re: [PATCH v2 1/1] wdt: fix", 16, "Thank you.\n"))
	expect(ann, "")

	// A series carrying Rita's Reviewed-by (collected by its author)
	// does not ask her again; her Cc on it alone would.
	fan := needSeries("dev", annFrom, "Rita Reviewer <rita@example.org>", "fan", "fan: spin", 1, 40)
	fan[1] = []byte(strings.Replace(string(fan[1]), "Signed-off-by:", "Reviewed-by: Rita Reviewer <Rita@example.org>\r\nSigned-off-by:", 1))
	post("dev", fan...)
	expect(rita, "")
	post("dev", needSeries("dev", annFrom, "Rita Reviewer <rita@example.org>", "gpio", "gpio: fix", 1, 45)...)
	expect(rita, "asked gpio: fix\n")
	post("dev", needMail(ritaFrom, "dev@example.org", "", "r3@example.org", "gpio-v1-1@example.org", "Re: [PATCH 1/1] gpio: fix", 50, "Nack.\n"))
	expect(rita, "")
	expect(ann, "feedback gpio: fix\n")
	post("dev", needMail(annFrom, "dev@example.org", "", "a3@example.org", "r3@example.org", "Re: [PATCH 1/1] gpio: fix", 51, "Why?\n"))
	expect(ann, "")

	// A status change by Mary is feedback for Ann, not one by Ann.
	v2 := seriesOf(t, st, "wdt-v2-1@example.org")
	if _, err := st.SetSeriesStatus(ctx, v2, store.StatusNeedsRevision, mary.ID, "please split", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	expect(ann, "feedback wdt: fix\n")

	// Rita's own series: a failed check is feedback; a patch delegated to
	// Mary puts it in hers.
	post("dev", needSeries("dev", ritaFrom, "", "led", "led: blink", 1, 20)...)
	expect(rita, "")
	led := seriesOf(t, st, "led-v1-1@example.org")
	if _, err := st.SetCheck(ctx, &store.Check{SeriesID: led, Context: "build", State: store.CheckFail}); err != nil {
		t.Fatal(err)
	}
	expect(rita, "feedback led: blink\n")
	patches, err := st.Patches(ctx, led)
	if err != nil || len(patches) != 1 {
		t.Fatalf("Patches = %v, %v", patches, err)
	}
	if err := st.SetRole(ctx, mary.ID, "dev", store.RoleMaintainer); err != nil { // a delegate maintains the list
		t.Fatal(err)
	}
	if _, err := st.UpdatePatch(ctx, patches[0].ID, store.PatchUpdate{Delegate: &mary.ID}, mary.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	expect(mary, "delegated led: blink\nnew-revision wdt: fix\n")

	// A private list's series asks Mary only once she may read it.
	post("sec", needSeries("sec", annFrom, "mary@example.org", "cve", "cve: fix", 1, 30)...)
	expect(mary, "delegated led: blink\nnew-revision wdt: fix\n")
	if err := st.SetRole(ctx, mary.ID, "sec", store.RoleMaintainer); err != nil {
		t.Fatal(err)
	}
	expect(mary, "delegated led: blink\nasked cve: fix\nnew-revision wdt: fix\n")

	// Applied or rejected series need nobody.
	if _, err := st.SetSeriesStatus(ctx, led, store.StatusRejected, mary.ID, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	expect(rita, "")
	expect(mary, "asked cve: fix\nnew-revision wdt: fix\n")

	// Feed tokens: a new one replaces the old.
	tok1, err := svc.NewFeedToken(ctx, mary.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := svc.FeedUser(ctx, tok1); err != nil || u.ID != mary.ID {
		t.Fatalf("FeedUser = %+v, %v", u, err)
	}
	tok2, err := svc.NewFeedToken(ctx, mary.ID)
	if err != nil || tok2 == tok1 {
		t.Fatalf("NewFeedToken again = %q, %v", tok2, err)
	}
	if _, err := svc.FeedUser(ctx, tok1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old token: %v, want ErrNotFound", err)
	}
	if u, err := svc.FeedUser(ctx, tok2); err != nil || u.ID != mary.ID {
		t.Errorf("new token: %+v, %v", u, err)
	}
	if has, err := svc.HasFeedToken(ctx, mary.ID); err != nil || !has {
		t.Errorf("HasFeedToken(mary) = %v, %v", has, err)
	}
	if has, err := svc.HasFeedToken(ctx, ann.ID); err != nil || has {
		t.Errorf("HasFeedToken(ann) = %v, %v", has, err)
	}
}
