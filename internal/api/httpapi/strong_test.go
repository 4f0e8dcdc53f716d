package httpapi_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/api/httpapi"
	"github.com/pandodb/pando/internal/coordinator"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/storage"
	"github.com/pandodb/pando/internal/strong/stronglocal"
	"github.com/pandodb/pando/internal/testutil"
	"github.com/pandodb/pando/internal/transport"
)

// startStrong serves namespace bank (strong, its partitions run as local
// state machines without Raft) and users (eventual).
func startStrong(t *testing.T) string {
	t.Helper()
	eng, err := storage.Open(storage.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	store, err := replica.New(replica.Config{Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	meta := metadata.Fixed{S: metadata.SingleNode("local", 16,
		metadata.Namespace{Name: "bank", N: 1, Model: metadata.Strong, Type: metadata.Bytes, Generation: 1},
		metadata.Namespace{Name: "users", N: 1, Model: metadata.Eventual, Type: metadata.Bytes, Generation: 2})}
	kv, err := coordinator.New(coordinator.Config{
		Self: "local", Store: store, Meta: meta,
		Transport: transport.NewMemNetwork().Transport(), Strong: stronglocal.New(eng),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.New(httpapi.Config{KV: kv, Limits: api.DefaultLimits(), Catalog: coordinator.Catalog{Meta: meta}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs.URL
}

func wantStatus(t *testing.T, what string, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d, want %d (body %s)", what, resp.StatusCode, status, body)
	}
}

// TestStrongKeysOverHTTP: in a strong namespace a read returns the key's
// version as its ETag; a write or delete with If-Match of that version
// applies only if no one wrote the key since (412 otherwise, changing
// nothing); If-None-Match: * writes only a new key; POST .../incr adds to
// an integer, and refuses a debit past its floor.
func TestStrongKeysOverHTTP(t *testing.T) {
	base := startStrong(t)
	acct := base + "/v1/ns/bank/kv/acct/a"
	resp, body := testutil.HTTP(t, "PUT", acct, "100")
	wantStatus(t, "PUT", resp, body, http.StatusNoContent)
	resp, body = testutil.HTTP(t, "GET", acct, "")
	wantStatus(t, "GET", resp, body, http.StatusOK)
	v1 := resp.Header.Get("ETag")
	if string(body) != "100" || v1 == "" || v1 != `"`+resp.Header.Get(httpapi.VersionHeader)+`"` {
		t.Fatalf("GET: %q, ETag %q, version %q", body, v1, resp.Header.Get(httpapi.VersionHeader))
	}

	resp, body = testutil.HTTP(t, "PUT", acct, "90", "If-Match", v1)
	wantStatus(t, "PUT If-Match the current version", resp, body, http.StatusNoContent)
	resp, body = testutil.HTTP(t, "PUT", acct, "80", "If-Match", v1)
	wantError(t, resp, body, http.StatusPreconditionFailed, "condition_failed", "not at version")
	resp, body = testutil.HTTP(t, "GET", acct, "")
	v2 := resp.Header.Get("ETag")
	if string(body) != "90" || v2 == v1 {
		t.Fatalf("after a write at %s and a refused one: %q, ETag %q", v1, body, v2)
	}

	resp, body = testutil.HTTP(t, "PUT", acct, "0", "If-None-Match", "*")
	wantError(t, resp, body, http.StatusPreconditionFailed, "condition_failed", "exists")
	resp, body = testutil.HTTP(t, "PUT", base+"/v1/ns/bank/kv/acct/b", "0", "If-None-Match", "*")
	wantStatus(t, "PUT If-None-Match: * of a new key", resp, body, http.StatusNoContent)
	resp, body = testutil.HTTP(t, "PUT", base+"/v1/ns/bank/kv/acct/c", "0", "If-Match", "*")
	wantError(t, resp, body, http.StatusPreconditionFailed, "condition_failed", "does not exist")

	resp, body = testutil.HTTP(t, "POST", base+"/v1/ns/bank/kv/acct/b/incr?by=25", "")
	wantStatus(t, "POST incr", resp, body, http.StatusOK)
	if !bytes.Contains(body, []byte(`"value": 25`)) {
		t.Fatalf("incr by 25: %s", body)
	}
	resp, body = testutil.HTTP(t, "POST", base+"/v1/ns/bank/kv/acct/b/incr?by=-26&floor=0", "")
	wantError(t, resp, body, http.StatusConflict, "below_floor", "floor")
	resp, body = testutil.HTTP(t, "POST", base+"/v1/ns/bank/kv/acct/b/incr", "")
	if !bytes.Contains(body, []byte(`"value": 26`)) {
		t.Fatalf("incr by the default 1: %d %s", resp.StatusCode, body)
	}
	resp, body = testutil.HTTP(t, "POST", base+"/v1/ns/bank/kv/acct/b/incr?by=x", "")
	wantError(t, resp, body, http.StatusBadRequest, "invalid_argument", "by")
	testutil.HTTP(t, "PUT", base+"/v1/ns/bank/kv/name", "abc")
	resp, body = testutil.HTTP(t, "POST", base+"/v1/ns/bank/kv/name/incr?by=1", "")
	wantError(t, resp, body, http.StatusConflict, "not_integer", "not an integer")

	resp, body = testutil.HTTP(t, "DELETE", acct, "", "If-Match", v1)
	wantError(t, resp, body, http.StatusPreconditionFailed, "condition_failed", "not at version")
	resp, body = testutil.HTTP(t, "DELETE", acct, "", "If-Match", v2)
	wantStatus(t, "DELETE If-Match the current version", resp, body, http.StatusNoContent)
	resp, body = testutil.HTTP(t, "GET", acct, "")
	wantError(t, resp, body, http.StatusNotFound, "not_found", "acct/a")
	resp, body = testutil.HTTP(t, "DELETE", acct, "", "If-Match", "*")
	wantError(t, resp, body, http.StatusPreconditionFailed, "condition_failed", "does not exist")

	for _, bad := range []string{`"x"`, `"1", "2"`} {
		resp, body = testutil.HTTP(t, "PUT", acct, "1", "If-Match", bad)
		wantError(t, resp, body, http.StatusBadRequest, "invalid_argument", "If-Match")
	}
}

// TestPreconditionsInEventualNamespaces: an eventual namespace takes
// If-None-Match: * and If-Match: * (SET NX and XX), refuses a version with
// a pointer to causal contexts, and refuses increments with the reason.
func TestPreconditionsInEventualNamespaces(t *testing.T) {
	base := startStrong(t)
	u := base + "/v1/ns/users/kv/u1"
	resp, body := testutil.HTTP(t, "PUT", u, "a", "If-None-Match", "*")
	wantStatus(t, "PUT If-None-Match: * of a new key", resp, body, http.StatusNoContent)
	resp, body = testutil.HTTP(t, "PUT", u, "b", "If-None-Match", "*")
	wantError(t, resp, body, http.StatusPreconditionFailed, "condition_failed", "exists")
	resp, body = testutil.HTTP(t, "PUT", u, "c", "If-Match", "*")
	wantStatus(t, "PUT If-Match: * of a key that exists", resp, body, http.StatusNoContent)
	resp, body = testutil.HTTP(t, "PUT", u, "d", "If-Match", `"3"`)
	wantError(t, resp, body, http.StatusBadRequest, "invalid_argument", httpapi.ContextHeader)
	resp, body = testutil.HTTP(t, "POST", u+"/incr", "")
	wantError(t, resp, body, http.StatusNotImplemented, "unsupported", "strong namespace")
	resp, body = testutil.HTTP(t, "GET", u, "")
	if string(body) != "c" || resp.Header.Get("ETag") != "" {
		t.Fatalf("GET after the refusals: %q, ETag %q", body, resp.Header.Get("ETag"))
	}
}
