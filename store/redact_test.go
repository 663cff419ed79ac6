package store

import "testing"

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://pw:s3cret@db.example.org/pw":            "postgres://pw:xxx@db.example.org/pw",
		"postgres://pw:p@ss@db/pw?sslmode=disable":          "postgres://pw:xxx@db/pw?sslmode=disable",
		"postgres://pw@db/pw":                               "postgres://pw@db/pw",
		"/var/lib/patchwell":                                "/var/lib/patchwell",
		"postgresql://u:x@127.0.0.1:5432/d?sslmode=require": "postgresql://u:xxx@127.0.0.1:5432/d?sslmode=require",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
