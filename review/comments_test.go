package review

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// testDiff is a two-file patch: drivers/wdt.c (a hunk at 10 with an
// addition and a removal, a hunk at 40) and Makefile.
const testDiff = `diff --git a/drivers/wdt.c b/drivers/wdt.c
index 1111111..2222222 100644
--- a/drivers/wdt.c
+++ b/drivers/wdt.c
@@ -10,7 +10,8 @@ static int wdt_ping(struct wdt *w)
 {
 	struct wdt_priv *priv = w->priv;
 
-	writeb(0x0, priv->base + WDTRR);
+	writeb(0x00, priv->base + WDTRR);
+	writeb(0xff, priv->base + WDTRR);
 	udelay(priv->delay);
 
 	return 0;
@@ -40,6 +41,7 @@ static int wdt_start(struct wdt *w)
 	ret = reset_control_deassert(priv->rstc);
 	if (ret)
 		return ret;
+	udelay(5);
 
 	ret = pm_runtime_resume_and_get(w->parent);
 	if (ret)
diff --git a/Makefile b/Makefile
index 3333333..4444444 100644
--- a/Makefile
+++ b/Makefile
@@ -86,3 +86,4 @@ obj-$(CONFIG_RENESAS_WDT) += renesas_wdt.o
 obj-$(CONFIG_RENESAS_RZAWDT) += rza_wdt.o
 obj-$(CONFIG_RENESAS_RZN1WDT) += rzn1_wdt.o
+obj-$(CONFIG_RENESAS_RZV2HWDT) += rzv2h_wdt.o
 obj-$(CONFIG_ASPEED_WATCHDOG) += aspeed_wdt.o
`

func TestFindComments(t *testing.T) {
	targets := []Target{{MessageID: "patch@x", Diff: testDiff}}
	tests := []struct {
		name string
		body string
		want []Found
	}{
		{
			name: "mutt",
			body: `On Mon, Aug 05, 2024 at 09:04:00PM +0100, Prabhakar wrote:
> diff --git a/drivers/wdt.c b/drivers/wdt.c
> index 1111111..2222222 100644
> --- a/drivers/wdt.c
> +++ b/drivers/wdt.c
> @@ -10,7 +10,8 @@ static int wdt_ping(struct wdt *w)
>  {
>  	struct wdt_priv *priv = w->priv;
>  
> -	writeb(0x0, priv->base + WDTRR);
> +	writeb(0x00, priv->base + WDTRR);
> +	writeb(0xff, priv->base + WDTRR);

Why write twice?

>  	udelay(priv->delay);
>  
>  	return 0;

-- 
Reviewer
`,
			want: []Found{{PatchMessageID: "patch@x", File: "drivers/wdt.c", Side: "new", Line: 14, Body: "Why write twice?"}},
		},
		{
			name: "old side and trimmed hunks",
			body: `Hi,

On 8/5/24 13:04, Prabhakar wrote:
> -	writeb(0x0, priv->base + WDTRR);

The old value was fine.

[...]

> +	udelay(5);

Needs a comment:
why 5?

...
> +obj-$(CONFIG_RENESAS_RZV2HWDT) += rzv2h_wdt.o

Sort this.

Thanks
`,
			want: []Found{
				{PatchMessageID: "patch@x", Body: "Hi,"},
				{PatchMessageID: "patch@x", File: "drivers/wdt.c", Side: "old", Line: 13, Body: "The old value was fine."},
				{PatchMessageID: "patch@x", File: "drivers/wdt.c", Side: "new", Line: 44, Body: "Needs a comment:\nwhy 5?"},
				{PatchMessageID: "patch@x", File: "Makefile", Side: "new", Line: 88, Body: "Sort this.\n\nThanks"},
			},
		},
		{
			name: "thunderbird flowed, tabs to spaces",
			body: `On 8/5/24 13:04, Prabhakar wrote:
>   {
>       struct wdt_priv *priv = w->priv;
> 
> -    writeb(0x0, priv->base + WDTRR);
> +    writeb(0x00, priv->base + WDTRR);

Hm.
`,
			want: []Found{{PatchMessageID: "patch@x", File: "drivers/wdt.c", Side: "new", Line: 13, Body: "Hm."}},
		},
		{
			name: "gmail wrapped attribution, context line lost its space",
			body: `On Tue, Dec 10, 2024 at 10:45 AM Prabhakar Lad <
prabhakar@example.com> wrote:
> ret = pm_runtime_resume_and_get(w->parent);

Check the error.
`,
			want: []Found{{PatchMessageID: "patch@x", File: "drivers/wdt.c", Side: "new", Line: 46, Body: "Check the error."}},
		},
		{
			name: "re-wrapped long line",
			body: `> +obj-$(CONFIG_RENESAS_RZV2HWDT) +=
> rzv2h_wdt.o

Wrapped.
`,
			want: []Found{{PatchMessageID: "patch@x", File: "Makefile", Side: "new", Line: 88, Body: "Wrapped."}},
		},
		{
			name: "nested reply to a reply",
			body: `On Wed, Someone wrote:
> On Tue, Reviewer wrote:
>> > +	writeb(0xff, priv->base + WDTRR);
>>
>> Why write twice?
>
> The hardware wants the sequence.

OK, then add a comment saying so.
`,
			want: []Found{{PatchMessageID: "patch@x", File: "drivers/wdt.c", Side: "new", Line: 14, Body: "OK, then add a comment saying so."}},
		},
		{
			name: "top-posting",
			body: `Applied, thanks.

On Mon, Prabhakar wrote:
> diff --git a/drivers/wdt.c b/drivers/wdt.c
> +	writeb(0xff, priv->base + WDTRR);
`,
			want: []Found{{PatchMessageID: "patch@x", Body: "Applied, thanks."}},
		},
		{
			name: "outlook top-posting",
			body: "Looks good.\n\n-----Original Message-----\nFrom: Prabhakar\n+\twriteb(0xff, priv->base + WDTRR);\n",
			want: []Found{{PatchMessageID: "patch@x", Body: "Looks good."}},
		},
		{
			name: "hunk header comment",
			body: "> @@ -40,6 +41,7 @@ static int wdt_start(struct wdt *w)\n\nThis hunk is odd.\n",
			want: []Found{{PatchMessageID: "patch@x", File: "drivers/wdt.c", Side: "new", Line: 41, Body: "This hunk is odd."}},
		},
		{
			name: "weak line far away is not matched",
			body: "> Some commit message text.\n>  \treturn 0;\n\nComment.\n",
			want: []Found{{PatchMessageID: "patch@x", Body: "Comment."}},
		},
		{
			name: "trailers under the last quoted line are no line comment",
			body: "> +\twriteb(0xff, priv->base + WDTRR);\n>  \tudelay(priv->delay);\n\nReviewed-by: Rev Iewer <rev@example.org>\nTested-by: Rev Iewer <rev@example.org>\n",
			want: []Found{{PatchMessageID: "patch@x", Body: "Reviewed-by: Rev Iewer <rev@example.org>\nTested-by: Rev Iewer <rev@example.org>"}},
		},
		{
			name: "weak line right after a match",
			body: ">  \tudelay(priv->delay);\n> \n>  \treturn 0;\n\nComment.\n",
			want: []Found{{PatchMessageID: "patch@x", File: "drivers/wdt.c", Side: "new", Line: 17, Body: "Comment."}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := FindComments(targets, "patch@x", tc.body)
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(Found{}, "Quote")); diff != "" {
				t.Errorf("FindComments() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFindCommentsQuote checks the quoted lines kept for display are the
// patch's own text.
func TestFindCommentsQuote(t *testing.T) {
	targets := []Target{{MessageID: "p", Diff: testDiff}}
	got := FindComments(targets, "p", "> +    writeb(0x00, priv->base + WDTRR);\n> +    writeb(0xff, priv->base + WDTRR);\nWhy?\n")
	want := []string{"+\twriteb(0x00, priv->base + WDTRR);", "+\twriteb(0xff, priv->base + WDTRR);"}
	if len(got) != 1 || !cmp.Equal(got[0].Quote, want) {
		t.Fatalf("FindComments() = %+v, want one comment quoting %q", got, want)
	}
}

// TestFindCommentsSeries maps a reply to a cover letter that quotes hunks
// of two patches.
func TestFindCommentsSeries(t *testing.T) {
	second := strings.ReplaceAll(testDiff, "wdt", "dog")
	targets := []Target{{MessageID: "p1", Diff: testDiff}, {MessageID: "p2", Diff: second}}
	body := `> diff --git a/drivers/dog.c b/drivers/dog.c
> +	writeb(0xff, priv->base + WDTRR);

In patch 2.

> diff --git a/drivers/wdt.c b/drivers/wdt.c
> +	udelay(5);

In patch 1.
`
	got := FindComments(targets, "cover", body)
	want := []Found{
		{PatchMessageID: "p2", File: "drivers/dog.c", Side: "new", Line: 14, Body: "In patch 2."},
		{PatchMessageID: "p1", File: "drivers/wdt.c", Side: "new", Line: 44, Body: "In patch 1."},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Found{}, "Quote")); diff != "" {
		t.Errorf("FindComments() mismatch (-want +got):\n%s", diff)
	}
}

func FuzzFindComments(f *testing.F) {
	f.Add("> +\twriteb(0xff, priv->base + WDTRR);\nWhy?\n")
	f.Add("> @@ -10,7 +10,8 @@\n>> \n> diff --git a/x b/x\n--\n...\n")
	targets := []Target{{MessageID: "p", Diff: testDiff}}
	f.Fuzz(func(t *testing.T, body string) {
		for _, c := range FindComments(targets, "p", body) {
			if c.File != "" && c.Side == "" && c.Line != 0 {
				t.Fatalf("comment with a line but no side: %+v", c)
			}
		}
	})
}

// TestFindCommentsHostile feeds a patch of 100,000 identical lines and a
// reply quoting them 20,000 times with a comment under each: the work per
// quoted line is bounded (maxScan), so this takes well under a second
// rather than the minutes a scan of every candidate would.
func TestFindCommentsHostile(t *testing.T) {
	diff := "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,1 +1,100001 @@\n" + strings.Repeat("+same line here\n", 100000) + " ctx\n"
	body := strings.Repeat("> +same line here\nWhy?\n", maxCommentLines/2)
	got := FindComments([]Target{{MessageID: "p", Diff: diff}}, "p", body)
	if len(got) != maxCommentLines/2 || got[0].Line != 1 || got[len(got)-1].Line != maxCommentLines/2 {
		t.Fatalf("FindComments() = %d comments, first at %d, last at %d", len(got), got[0].Line, got[len(got)-1].Line)
	}
}
