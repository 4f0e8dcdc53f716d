package resp

import "testing"

func TestGlobMatch(t *testing.T) {
	// Cases from Redis's documentation of KEYS and SCAN MATCH.
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"h?llo", "hello", true},
		{"h?llo", "hallo", true},
		{"h?llo", "hllo", false},
		{"h*llo", "hllo", true},
		{"h*llo", "heeeello", true},
		{"h[ae]llo", "hello", true},
		{"h[ae]llo", "hillo", false},
		{"h[^e]llo", "hallo", true},
		{"h[^e]llo", "hello", false},
		{"h[a-b]llo", "hbllo", true},
		{"h[a-b]llo", "hcllo", false},
		{"h\\*llo", "h*llo", true},
		{"h\\*llo", "hello", false},
		{"*", "", true},
		{"*", "anything", true},
		{"key:*", "key:123", true},
		{"key:*", "kex:123", false},
		{"*:*:*", "a:b:c", true},
		{"*a*b", "xxaxxbxxb", true},
		{"a*b", "ab", true},
		{"a*b", "a", false},
		{"", "", true},
		{"", "a", false},
	} {
		if got := globMatch([]byte(c.p), []byte(c.s)); got != c.want {
			t.Errorf("match(%q, %q) = %v, want %v", c.p, c.s, got, c.want)
		}
	}
}

func FuzzGlobMatch(f *testing.F) {
	f.Add([]byte("h[^a-]*\\"), []byte("hello"))
	f.Fuzz(func(t *testing.T, p, s []byte) {
		globMatch(p, s) // must not panic or hang
		if !globMatch([]byte("*"), s) {
			t.Fatal("* does not match everything")
		}
	})
}
