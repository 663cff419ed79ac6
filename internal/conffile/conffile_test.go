package conffile

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func flags() (*flag.FlagSet, *string, *int, *bool, *time.Duration) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s := fs.String("smtp", "127.0.0.1:2525", "")
	n := fs.Int("imap-max-per-ip", 50, "")
	b := fs.Bool("ci", true, "")
	d := fs.Duration("ci-grace", time.Hour, "")
	fs.String("config", "", "")
	fs.String("proxy-protocol-from", "", "")
	return fs, s, n, b, d
}

func TestApplyFlags(t *testing.T) {
	f, err := Parse("p.toml", []byte(`# a comment
smtp = ":25"
imap-max-per-ip = 7
ci = false
ci-grace = "90m"
proxy-protocol-from = ["10.0.0.0/8", "fd00::/8"]

[[list]]
name = "dev"
maintainers = ["a@x", "b@x"]

[[list]]
name = "ops"
`))
	if err != nil {
		t.Fatal(err)
	}
	fs, s, n, b, d := flags()
	if err := fs.Parse([]string{"-imap-max-per-ip", "9"}); err != nil {
		t.Fatal(err)
	}
	if err := f.ApplyFlags(fs, "config"); err != nil {
		t.Fatal(err)
	}
	if *s != ":25" || *n != 9 || *b || *d != 90*time.Minute || fs.Lookup("proxy-protocol-from").Value.String() != "10.0.0.0/8,fd00::/8" {
		t.Errorf("flags: smtp %q, imap-max-per-ip %d (the command line's 9 wins), ci %v, ci-grace %v, proxy %q",
			*s, *n, *b, *d, fs.Lookup("proxy-protocol-from").Value)
	}
	if len(f.Tables) != 2 || f.Tables[0].Name != "list" || f.Tables[0].Line != 8 || f.Tables[1].Line != 12 {
		t.Fatalf("tables: %+v", f.Tables)
	}
	if e, ok := f.Tables[0].Get("maintainers"); !ok || !e.IsList || len(e.List) != 2 || e.List[1] != "b@x" || e.Line != 10 {
		t.Errorf("maintainers: %+v", e)
	}
	if e, _ := f.Tables[1].Get("name"); e.Value != "ops" || e.Line != 13 {
		t.Errorf("second table's name: %+v", e)
	}
	if err := f.CheckTables("list"); err != nil {
		t.Error(err)
	}
	if err := f.CheckTables("lists"); err == nil || !strings.Contains(err.Error(), "p.toml:8: unknown table [[list]]") {
		t.Errorf("CheckTables: %v", err)
	}
}

// TestMistakes: each mistake names the file and line and says why.
func TestMistakes(t *testing.T) {
	for _, c := range []struct{ name, text, want string }{
		{"unknown key", "smtp = \":25\"\nsmpt = \":26\"\n", `p.toml:2: unknown key "smpt"`},
		{"refused key", "config = \"other.toml\"\n", `p.toml:1: unknown key "config"`},
		{"bad value", "\n\nimap-max-per-ip = \"many\"\n", `p.toml:3: imap-max-per-ip = "many": parse error (a whole number)`},
		{"bad duration", "ci-grace = 5\n", `p.toml:1: ci-grace = "5": parse error (a duration with its unit, such as "90s"`},
		{"not toml", "smtp = \n", "p.toml:1: "},
		{"duplicate", "smtp = \"a\"\nsmtp = \"b\"\n", "p.toml:2: "},
		{"table", "smtp = \"a\"\n[web]\nx = 1\n", "p.toml:2: [web]: only top-level keys"},
		{"dotted", "smtp.port = 1\n", "p.toml:1: smtp.port: a dotted key"},
		{"inline table", "smtp = {a = 1}\n", "p.toml:1: smtp: a map[string]interface {} is not a value here"},
		{"date", "smtp = 1979-05-27\n", "p.toml:1: smtp: a toml.LocalDate is not a value here"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := Parse("p.toml", []byte(c.text))
			if err == nil {
				fs, _, _, _, _ := flags()
				err = f.ApplyFlags(fs, "config")
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
}
