package main

import (
	"strings"
	"testing"
)

// TestPrivateListPosting: the real server refuses mail for a private list
// at RCPT unless the envelope sender is a member's address, and takes the
// member's mail.
func TestPrivateListPosting(t *testing.T) {
	data := t.TempDir()
	cli(t, nil, "list", "create", "sec", "--data", data, "--visibility", "private")
	cli(t, nil, "list", "create", "dev", "--data", data)
	if _, errs, code := cli(t, []byte("correct horse battery\n"), "user", "add", "maint@example.org", "--name", "Mae", "--data", data); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	cli(t, nil, "user", "role", "maint@example.org", "sec", "maintainer", "--data", data)
	tok, _, _ := cli(t, nil, "user", "token", "maint@example.org", "test", "--data", data)
	srv := startServer(t, data)

	mail := func(id string) string {
		return "From: X <x@example.org>\nTo: sec@patchwell.localhost\nSubject: hello " + id + "\nMessage-ID: <" + id + "@example.org>\n\nhi\n"
	}
	err := smtpSend(srv.smtp, "outsider@example.net", []string{"sec@patchwell.localhost"}, mail("out"))
	if err == nil || !strings.Contains(err.Error(), "550 5.7.1") {
		t.Errorf("outsider's mail to the private list: %v, want 550 5.7.1", err)
	}
	// The public list takes anyone's mail; the member's reaches the private one.
	sendRaw(t, srv.smtp, "outsider@example.net", []string{"dev@patchwell.localhost"}, mail("pub"))
	sendRaw(t, srv.smtp, "maint@example.org", []string{"sec@patchwell.localhost"}, mail("member"))

	var threads struct{ Threads []struct{ Subject string } }
	srv.getJSONAuth("/api/v1/lists/sec/threads", strings.TrimSpace(tok), &threads)
	if len(threads.Threads) != 1 || threads.Threads[0].Subject != "hello member" {
		t.Errorf("threads of the private list: %+v, want only the member's", threads.Threads)
	}
}
