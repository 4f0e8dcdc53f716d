package auth

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestHashAndVerify(t *testing.T) {
	h, err := Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h, "correct horse") {
		t.Fatalf("hash %q", h)
	}
	h2, _ := Hash("correct horse")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{"correct horse", true}, {"correct hors", false}, {"", false}, {strings.Repeat("x", MaxPasswordBytes+1), false}} {
		if ok, err := Verify(h, tc.pw); err != nil || ok != tc.want {
			t.Fatalf("Verify(%.20q) = %v %v, want %v", tc.pw, ok, err, tc.want)
		}
	}
	if _, err := Hash(""); err == nil {
		t.Fatal("an empty password was hashed")
	}
	for _, bad := range []string{
		"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA", // would cost 95 GiB
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",              // salt too short
		"$argon2id$v=19$m=19456,t=2,p=1,x=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		if _, err := Verify(bad, "pw"); !errors.Is(err, ErrBadHash) {
			t.Fatalf("Verify with hash %q: %v", bad, err)
		}
	}
}

func TestAllows(t *testing.T) {
	h, _ := Hash("pw")
	all := User{Name: "ann", Hash: h, Role: Write}
	some := User{Name: "bob", Hash: h, Role: Admin, Namespaces: []string{"orders"}}
	reader := User{Name: "cy", Hash: h, Role: Read}
	for _, tc := range []struct {
		u    User
		need Role
		ns   string
		want bool
	}{
		{all, Read, "x", true}, {all, Write, "x", true}, {all, Admin, "x", false}, {all, Write, "", true},
		{some, Admin, "orders", true}, {some, Read, "other", false}, {some, Admin, "", false},
		{reader, Read, "x", true}, {reader, Write, "x", false},
	} {
		if got := tc.u.Allows(tc.need, tc.ns); got != tc.want {
			t.Errorf("%s (%s %v) may %s in %q: %v, want %v", tc.u.Name, tc.u.Role, tc.u.Namespaces, tc.need, tc.ns, got, tc.want)
		}
	}
	for _, bad := range []User{{Name: "", Hash: h, Role: Read}, {Name: "a b", Hash: h, Role: Read}, {Name: "a", Hash: h, Role: "root"}, {Name: "a", Hash: "x", Role: Read}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v validated", bad)
		}
	}
	if all.Public().Hash != "" {
		t.Fatal("Public keeps the hash")
	}
}

// FuzzParseHash: no stored hash, however malformed, makes the parser
// panic or accept parameters that would make a verification unbounded.
func FuzzParseHash(f *testing.F) {
	h, _ := Hash("pw")
	f.Add(h)
	f.Add("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Fuzz(func(t *testing.T, hash string) {
		p, err := parseHash(hash)
		if err == nil && (p.memory > 256*1024 || p.time > 16 || p.threads > 16 || len(p.key) > 64) {
			t.Fatalf("accepted parameters %+v", p)
		}
	})
}

// TestLoginLimit: MaxFailures failed logins to one user from one source
// within the window refuse that source's next logins to that user without
// a check (even with the right password) until the window passes; other
// users from that source, and that user from elsewhere, still log in;
// ten times as many failures from one source refuse all its logins.
func TestLoginLimit(t *testing.T) {
	h, _ := Hash("pw")
	c := &Checker{Lookup: func(n string) (User, bool) { return User{Name: n, Hash: h, Role: Read}, n == "ann" || n == "bob" }, MaxFailures: 3, Window: time.Hour}
	if err := c.Login("ann", "pw", "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := c.Login("ann", "wrong", "10.0.0.1"); !errors.Is(err, ErrWrongPass) {
			t.Fatalf("a wrong login: %v", err)
		}
	}
	err := c.Login("ann", "pw", "10.0.0.1")
	if !errors.Is(err, ErrTooManyAttempts) || !strings.Contains(err.Error(), "retry in") {
		t.Fatalf("after 3 failures: %v", err)
	}
	if err := c.Login("ann", "pw", "10.0.0.2"); err != nil {
		t.Fatalf("ann from another source: %v", err)
	}
	if err := c.Login("bob", "pw", "10.0.0.1"); err != nil {
		t.Fatalf("another user from that source: %v", err)
	}
	for i := range 27 { // 30 failures from 10.0.0.1 in all
		_ = c.Login(fmt.Sprint("user", i), "x", "10.0.0.1")
	}
	if err := c.Login("bob", "pw", "10.0.0.1"); !errors.Is(err, ErrTooManyAttempts) {
		t.Fatalf("after 30 failures from one source: %v", err)
	}
	c.Window = time.Nanosecond // the window passed
	if err := c.Login("ann", "pw", "10.0.0.1"); err != nil {
		t.Fatalf("once the window passed: %v", err)
	}
}

// BenchmarkVerify is the cost of one login's password check.
func BenchmarkVerify(b *testing.B) {
	h, _ := Hash("pw")
	for b.Loop() {
		if ok, err := Verify(h, "pw"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// TestTokens: a token's text is checked against its kept hash; a wrong
// secret, an expired token or one of another user is refused; a token
// logs its user in as the password of AUTH.
func TestTokens(t *testing.T) {
	now := time.Now()
	tok, text, err := NewToken("ann", time.Hour, now)
	if err != nil || tok.Validate() != nil || !strings.HasPrefix(text, "pdt_"+tok.ID+"_") || strings.Contains(tok.Hash, text[21:]) {
		t.Fatalf("%+v %q %v", tok, text, err)
	}
	id, secret, ok := ParseToken(text)
	if !ok || id != tok.ID {
		t.Fatalf("ParseToken(%q) = %q %v", text, id, ok)
	}
	if err := tok.Check(secret, now); err != nil {
		t.Fatal(err)
	}
	if err := tok.Check(secret+"x", now); !errors.Is(err, ErrBadToken) {
		t.Fatalf("a wrong secret: %v", err)
	}
	if err := tok.Check(secret, now.Add(time.Hour)); !errors.Is(err, ErrBadToken) {
		t.Fatalf("an expired token: %v", err)
	}
	for _, bad := range []string{"", "pdt_", "pdt_abc_def", "ghp_" + text[4:], text + strings.Repeat("x", 40)} {
		if _, _, ok := ParseToken(bad); ok {
			t.Fatalf("%q parsed as a token", bad)
		}
	}
	h, _ := Hash("pw")
	c := &Checker{
		Lookup: func(n string) (User, bool) { return User{Name: n, Hash: h, Role: Read}, n == "ann" || n == "bob" },
		Tokens: func(i string) (Token, bool) { return tok, i == tok.ID },
	}
	if err := c.Login("ann", text, "10.0.0.1"); err != nil {
		t.Fatalf("AUTH ann <token>: %v", err)
	}
	if err := c.Login("bob", text, "10.0.0.1"); !errors.Is(err, ErrWrongPass) {
		t.Fatalf("ann's token for bob: %v", err)
	}
}
