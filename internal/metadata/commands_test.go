package metadata

import (
	"errors"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/auth"
)

// Truncations and drops name the generation they retire, so that a command
// applied twice (a proposal retried after a lost answer) retires it once.
func TestRetiringIsIdempotent(t *testing.T) {
	s := FixedCluster([]string{"n1"}, 8)
	create := &command{Op: opCreateNamespace, Namespace: &Namespace{Name: "users", N: 1, Model: Eventual, Type: Bytes, MaxSiblings: 16}}
	if err := apply(s, create); err != nil {
		t.Fatal(err)
	}
	users, _ := s.Namespace("users")
	if users.Generation == 0 || users.StorageName() != "users#1" {
		t.Fatalf("a new namespace: generation %d, storage %q", users.Generation, users.StorageName())
	}
	trunc := &command{Op: opTruncate, Name: "users", Generation: users.Generation}
	for range 2 {
		if err := apply(s, trunc); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := s.Namespace("users")
	if after.Generation != users.Generation+1 {
		t.Fatalf("two applications of one truncation: generation %d to %d, want one step", users.Generation, after.Generation)
	}
	if !s.Garbage(users.StorageName()) || s.Garbage(after.StorageName()) || s.Garbage("default") || s.Garbage("unknown#7") {
		t.Fatal("garbage: only the retired generation is")
	}
	drop := &command{Op: opDrop, Name: "users", Generation: after.Generation}
	if err := apply(s, drop); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Namespace("users"); ok || !s.Garbage(after.StorageName()) {
		t.Fatal("a dropped namespace is still there, or its data is not garbage")
	}
	if err := apply(s, create); err != nil {
		t.Fatal(err)
	}
	again, _ := s.Namespace("users")
	if s.Garbage(again.StorageName()) || again.StorageName() == users.StorageName() || again.StorageName() == after.StorageName() {
		t.Fatalf("created again as %q: must be a new, live generation", again.StorageName())
	}
	// The state survives a snapshot.
	b, err := s.encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeState(b)
	if err != nil || back.Generations != s.Generations || back.Retired["users"] != s.Retired["users"] {
		t.Fatalf("after a snapshot: %+v %v", back, err)
	}
	if got := (&Namespace{Name: "default"}).StorageName(); got != "default" {
		t.Fatalf("generation 0 is stored under its name: %q", got)
	}
	if name, gen := ParseStorageName("users#12"); name != "users" || gen != 12 {
		t.Fatalf("ParseStorageName: %q %d", name, gen)
	}
}

// TestUsers: a user is added once (a retry of the same add changes
// nothing, another add of the name is refused), changed only if it exists,
// deleted idempotently, and kept by a snapshot.
func TestUsers(t *testing.T) {
	s := SingleNode("n1", 8)
	h1, _ := auth.Hash("one")
	h2, _ := auth.Hash("two")
	ann := auth.User{Name: "ann", Hash: h1, Role: auth.Write, Namespaces: []string{"orders"}}
	add := &command{Op: opPutUser, User: &ann, Create: true}
	if err := apply(s, add); err != nil {
		t.Fatal(err)
	}
	if err := apply(s, add); err != nil {
		t.Fatalf("a retried add: %v", err)
	}
	other := ann
	other.Hash = h2
	if err := apply(s, &command{Op: opPutUser, User: &other, Create: true}); !errors.Is(err, ErrExists) {
		t.Fatalf("a second add of ann: %v", err)
	}
	bob := auth.User{Name: "bob", Hash: h2, Role: auth.Read}
	if err := apply(s, &command{Op: opPutUser, User: &bob}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a change of a user that does not exist: %v", err)
	}
	if err := apply(s, &command{Op: opPutUser, User: &other}); err != nil {
		t.Fatal(err)
	}
	if err := apply(s, &command{Op: opPutUser, User: &auth.User{Name: "eve", Hash: "plain", Role: auth.Admin}, Create: true}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a user without a hash: %v", err)
	}
	b, err := s.encode()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := decodeState(b)
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := s2.User("ann"); !ok || u.Hash != h2 || u.Role != auth.Write || len(u.Namespaces) != 1 {
		t.Fatalf("ann after a snapshot: %+v %v", u, ok)
	}
	for range 2 {
		if err := apply(s2, &command{Op: opDeleteUser, Name: "ann"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := s2.User("ann"); ok {
		t.Fatal("ann is still there")
	}
	if _, ok := s.User("ann"); !ok {
		t.Fatal("deleting from a decoded copy changed the original")
	}
}

// FuzzUserCommand: any log entry, however malformed, applied to a state
// never panics, and leaves only valid users (whose hashes a login can
// read) in it.
func FuzzUserCommand(f *testing.F) {
	h, _ := auth.Hash("pw")
	for _, seed := range []string{
		`{"op":"put_user","user":{"name":"ann","hash":"` + h + `","role":"write","namespaces":["a"]},"create":true}`,
		`{"op":"put_user","user":{"name":"ann","hash":"x","role":"root"}}`,
		`{"op":"delete_user","name":"ann"}`,
		`{"op":"put_user","user":null}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, entry []byte) {
		sm := newStateMachine(nil)
		sm.cur.Store(SingleNode("n1", 8))
		_, _ = sm.Apply(1, entry)
		for name, u := range sm.state().Users {
			if err := u.Validate(); err != nil || name != u.Name {
				t.Fatalf("entry %q left user %q: %+v (%v)", entry, name, u, err)
			}
		}
	})
}

// TestTokensGoWithTheirUser: a token is recorded only for a user that
// exists, and deleting the user revokes its tokens.
func TestTokensGoWithTheirUser(t *testing.T) {
	s := SingleNode("n1", 8)
	h, _ := auth.Hash("pw")
	tok, _, _ := auth.NewToken("ann", 0, time.Now())
	if err := apply(s, &command{Op: opPutToken, Token: &tok}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a token of no user: %v", err)
	}
	if err := apply(s, &command{Op: opPutUser, User: &auth.User{Name: "ann", Hash: h, Role: auth.Read}, Create: true}); err != nil {
		t.Fatal(err)
	}
	if err := apply(s, &command{Op: opPutToken, Token: &tok}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Token(tok.ID); !ok {
		t.Fatal("no token")
	}
	if err := apply(s, &command{Op: opDeleteUser, Name: "ann"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Token(tok.ID); ok {
		t.Fatal("the token outlived its user")
	}
}
