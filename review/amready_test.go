package review

import (
	"patchwell/core"
	"testing"
)

func TestAddTrailers(t *testing.T) {
	rb := []core.Trailer{{Key: "Reviewed-by", Value: "R <r@example.org>"}}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"after the sign-off",
			"Subject: [PATCH] x\n\nbody\n\nSigned-off-by: A <a@example.org>\n---\n a | 1 +\n\ndiff --git a/a b/a\n",
			"Subject: [PATCH] x\n\nbody\n\nSigned-off-by: A <a@example.org>\nReviewed-by: R <r@example.org>\n---\n a | 1 +\n\ndiff --git a/a b/a\n"},
		{"no --- line",
			"Subject: [PATCH] x\n\nbody\n\ndiff --git a/a b/a\n",
			"Subject: [PATCH] x\n\nbody\n\nReviewed-by: R <r@example.org>\n\ndiff --git a/a b/a\n"},
		{"hg email, a plain diff",
			"Subject: [PATCH 1 of 2] x\n\n# HG changeset patch\n# User A <a@example.org>\nx\n\nbody\n\ndiff -r 0123456789ab -r ba9876543210 a\n--- a/a\tThu Jan 01 00:00:00 1970 +0000\n",
			"Subject: [PATCH 1 of 2] x\n\n# HG changeset patch\n# User A <a@example.org>\nx\n\nbody\n\nReviewed-by: R <r@example.org>\n\ndiff -r 0123456789ab -r ba9876543210 a\n--- a/a\tThu Jan 01 00:00:00 1970 +0000\n"},
		{"quoted-printable is left alone",
			"Subject: x\nContent-Transfer-Encoding: quoted-printable\n\nbody\n---\n",
			"Subject: x\nContent-Transfer-Encoding: quoted-printable\n\nbody\n---\n"},
		{"CRLF line ends",
			"Subject: [PATCH] x\r\n\r\nbody\r\n\r\nSigned-off-by: A <a@example.org>\r\n---\r\n a | 1 +\r\n",
			"Subject: [PATCH] x\r\n\r\nbody\r\n\r\nSigned-off-by: A <a@example.org>\r\nReviewed-by: R <r@example.org>\r\n---\r\n a | 1 +\r\n"},
		{"no diff at all",
			"Subject: x\n\njust text\n",
			"Subject: x\n\njust text\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(AddTrailers([]byte(tc.in), rb)); got != tc.want {
				t.Errorf("AddTrailers() =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}
