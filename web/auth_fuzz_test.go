package web

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzAuth sends arbitrary credentials, cookies and bodies to the account
// and status routes: never a panic, never a status outside those documented,
// never a status change without a maintainer's token.
func FuzzAuth(f *testing.F) {
	e := newAuthEnv(f, Config{Signup: true})
	e.h.log = slog.New(slog.DiscardHandler)
	for _, seed := range [][5]string{
		{"POST", "/signin", "", "", "email=user%40example.org&password=x"},
		{"POST", "/api/v1/series/1/status", "Bearer pwt_x", "", `{"status":"approved"}`},
		{"POST", "/series/1/status", "", "pws_x", "status=approved&csrf=00"},
		{"GET", "/account", "Basic x", "", ""},
		{"POST", "/signup", "", "", "email=a%40b.c&password=12345678&password2=12345678"},
		{"GET", "/confirm/pwc_x", "", "", ""},
		{"POST", "/account/password", "Bearer pwt_x", "pws_x", "csrf=00&current=x&password=12345678&password2=12345678"},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3], seed[4])
	}
	f.Fuzz(func(t *testing.T, method, path, authz, cookie, body string) {
		if method != "GET" && method != "POST" || !strings.HasPrefix(path, "/") {
			return
		}
		req, err := http.NewRequest(method, "http://example.org"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		if cookie != "" {
			req.Header.Set("Cookie", sessionCookie+"="+cookie)
		}
		req.RequestURI = req.URL.RequestURI()
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 301, 302, 303, 307, 308, 400, 401, 403, 404, 405, 409, 429:
		default:
			t.Errorf("%s %q = %d %s", method, path, rec.Code, rec.Body)
		}
		if rec.Code == 200 && strings.Contains(path, "/status") {
			t.Errorf("%s %q changed a status with forged credentials", method, path)
		}
		if n := e.h.Panics(); n != 0 {
			t.Fatalf("Panics() = %d", n)
		}
	})
}
