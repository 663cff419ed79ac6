package web

import "testing"

func TestWithoutSignature(t *testing.T) {
	diff := "diff --git a/a b/a\n--- a/a\n+++ b/a\n@@ -1 +1 @@\n-x\n+y\n"
	for in, want := range map[string]string{
		diff + "-- \n2.39.5\n\n":           diff,
		diff:                               diff,
		diff + "-- \n":                     diff,
		"@@ -1,2 +1 @@\n-- \n a\n":         "@@ -1,2 +1 @@\n-- \n a\n", // a deleted "- " line, then context: too close to call, kept
		diff + "-- \n1\n2\n3\n4\n5\n":      diff + "-- \n1\n2\n3\n4\n5\n",
		diff + "-- \ndiff --git a/b b/b\n": diff + "-- \ndiff --git a/b b/b\n",
	} {
		if got := withoutSignature(in); got != want {
			t.Errorf("withoutSignature(%q) = %q, want %q", in, got, want)
		}
	}
}
