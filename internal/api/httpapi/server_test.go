package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/api/httpapi"
	"github.com/pandodb/pando/internal/clock"
	"github.com/pandodb/pando/internal/coordinator"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/storage"
	"github.com/pandodb/pando/internal/testutil"
	"github.com/prometheus/client_golang/prometheus"
)

type env struct {
	url   string
	clock *clock.Manual
	ready *bool
}

func start(t *testing.T, limits api.Limits) *env {
	t.Helper()
	eng, err := storage.Open(storage.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	clk := clock.NewManual(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	reg := prometheus.NewRegistry()
	store, err := replica.New(replica.Config{Engine: eng, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	m, err := api.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	ready := true
	srv, err := httpapi.New(httpapi.Config{
		KV: coordinator.Local(store, metadata.Namespace{Name: "users", N: 1, Model: metadata.Eventual, Type: metadata.Bytes}), Limits: limits, Clock: clk, Metrics: m, Gatherer: reg,
		Ready: func() error {
			if !ready {
				return fmt.Errorf("node is starting")
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &env{url: hs.URL, clock: clk, ready: &ready}
}

func do(t *testing.T, method, u string, body []byte) (*http.Response, []byte) {
	t.Helper()
	return testutil.HTTP(t, method, u, string(body))
}

func wantError(t *testing.T, resp *http.Response, body []byte, status int, code, msg string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error content type %q", ct)
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body is not JSON: %s", body)
	}
	if e.Error.Code != code || !strings.Contains(e.Error.Message, msg) {
		t.Fatalf("error %+v, want code %q with %q", e.Error, code, msg)
	}
}

func TestPutGetDelete(t *testing.T) {
	e := start(t, api.DefaultLimits())
	value := []byte("binary\x00value\xff")
	resp, _ := do(t, "PUT", e.url+"/v1/kv/users/42", value)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT: %d", resp.StatusCode)
	}
	resp, body := do(t, "GET", e.url+"/v1/kv/users/42", nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, value) {
		t.Fatalf("GET: %d %q", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Fatalf("GET content type %q", ct)
	}
	resp, body = do(t, "HEAD", e.url+"/v1/kv/users/42", nil)
	if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.ContentLength != int64(len(value)) {
		t.Fatalf("HEAD: %d len %d body %q", resp.StatusCode, resp.ContentLength, body)
	}
	// A key with reserved bytes, percent-encoded.
	odd := "a b/ç?#%"
	resp, _ = do(t, "PUT", e.url+"/v1/kv/"+url.PathEscape(odd), []byte("odd"))
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT odd key: %d", resp.StatusCode)
	}
	if _, body := do(t, "GET", e.url+"/v1/kv/"+url.PathEscape(odd), nil); string(body) != "odd" {
		t.Fatalf("GET odd key: %q", body)
	}
	resp, _ = do(t, "DELETE", e.url+"/v1/kv/users/42", nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	resp, body = do(t, "GET", e.url+"/v1/kv/users/42", nil)
	wantError(t, resp, body, http.StatusNotFound, "not_found", `key "users/42": not found`)
	// Deleting again is not an error: DELETE is idempotent.
	if resp, _ := do(t, "DELETE", e.url+"/v1/kv/users/42", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("second DELETE: %d", resp.StatusCode)
	}
}

func TestTTL(t *testing.T) {
	e := start(t, api.DefaultLimits())
	if resp, _ := do(t, "PUT", e.url+"/v1/kv/session?ttl=90s", []byte("s")); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT with ttl: %d", resp.StatusCode)
	}
	resp, _ := do(t, "GET", e.url+"/v1/kv/session", nil)
	want := e.clock.Now().Add(90 * time.Second).UTC().Format(time.RFC3339Nano)
	if got := resp.Header.Get("X-Pando-Expires-At"); got != want {
		t.Fatalf("X-Pando-Expires-At %q, want %q", got, want)
	}
	e.clock.Advance(90 * time.Second)
	resp, body := do(t, "GET", e.url+"/v1/kv/session", nil)
	wantError(t, resp, body, http.StatusNotFound, "not_found", "not found")
	for _, bad := range []string{"soon", "-5s", "0s"} {
		resp, body := do(t, "PUT", e.url+"/v1/kv/k?ttl="+bad, []byte("v"))
		wantError(t, resp, body, http.StatusBadRequest, "invalid_argument", "ttl")
	}
}

func TestLimitsAndBadRequests(t *testing.T) {
	e := start(t, api.Limits{MaxKeyBytes: 8, MaxValueBytes: 100})
	resp, body := do(t, "PUT", e.url+"/v1/kv/k", bytes.Repeat([]byte("v"), 101))
	wantError(t, resp, body, http.StatusRequestEntityTooLarge, "value_too_large", "the limit is 100")
	resp, body = do(t, "PUT", e.url+"/v1/kv/"+strings.Repeat("k", 9), []byte("v"))
	wantError(t, resp, body, http.StatusRequestEntityTooLarge, "key_too_large", "9 bytes, the limit is 8")
	resp, body = do(t, "GET", e.url+"/v1/kv/", nil)
	wantError(t, resp, body, http.StatusBadRequest, "empty_key", "empty key")
	resp, body = do(t, "POST", e.url+"/v1/kv/k", []byte("v"))
	wantError(t, resp, body, http.StatusMethodNotAllowed, "method_not_allowed", "POST")
	if resp.Header.Get("Allow") == "" {
		t.Fatal("405 without an Allow header")
	}
	resp, body = do(t, "GET", e.url+"/v2/nothing", nil)
	wantError(t, resp, body, http.StatusNotFound, "no_route", "/v2/nothing")
	// A path the mux would clean and redirect (to another key) is refused,
	// in JSON, and writes nothing.
	for _, p := range []string{"/v1/kv/a//b", "/v1/kv/a/./b", "/v1/kv/a/../b", "//v1/kv/a"} {
		resp, body = do(t, "PUT", e.url+p, []byte("v"))
		wantError(t, resp, body, http.StatusBadRequest, "invalid_argument", "a key cannot contain")
	}
	resp, body = do(t, "GET", e.url+"/v1/kv/a/b", nil)
	wantError(t, resp, body, http.StatusNotFound, "not_found", "not found")

	// A body streamed without a length is cut off at the limit.
	req, _ := http.NewRequest("PUT", e.url+"/v1/kv/k", io.MultiReader(strings.NewReader(strings.Repeat("x", 150))))
	req.ContentLength = -1
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	wantError(t, r, b, http.StatusRequestEntityTooLarge, "value_too_large", "limit is 100")
	resp, body = do(t, "GET", e.url+"/v1/kv/k", nil)
	wantError(t, resp, body, http.StatusNotFound, "not_found", "not found")
}

type page struct {
	Keys   []string `json:"keys"`
	Cursor string   `json:"cursor"`
}

func list(t *testing.T, u string) page {
	t.Helper()
	resp, body := do(t, "GET", u, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list %s: %d %s", u, resp.StatusCode, body)
	}
	var p page
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestListing(t *testing.T) {
	e := start(t, api.DefaultLimits())
	want := map[string]bool{}
	for i := range 250 {
		k := fmt.Sprintf("logs/%03d", i)
		if i%3 == 0 {
			k = fmt.Sprintf("users/%03d", i)
			want[k] = true
		}
		do(t, "PUT", e.url+"/v1/kv/"+k, []byte("v"))
	}
	got := map[string]bool{}
	cursor, pages := "", 0
	for {
		p := list(t, e.url+"/v1/kv?prefix=users/&limit=7&cursor="+cursor)
		if len(p.Keys) > 7 {
			t.Fatalf("page of %d keys with limit 7", len(p.Keys))
		}
		for _, k := range p.Keys {
			if got[k] || !want[k] {
				t.Fatalf("listing returned %q (duplicate or not matching)", k)
			}
			got[k] = true
		}
		pages++
		if p.Cursor == "" {
			break
		}
		cursor = p.Cursor
	}
	if len(got) != len(want) || pages < 2 {
		t.Fatalf("listed %d keys in %d pages, want %d keys", len(got), pages, len(want))
	}
	all := list(t, e.url+"/v1/kv?limit=10000")
	if len(all.Keys) != 250 || all.Cursor != "" {
		t.Fatalf("full listing: %d keys, cursor %q", len(all.Keys), all.Cursor)
	}
	b64 := list(t, e.url+"/v1/kv?prefix=users/000&encoding=base64")
	if len(b64.Keys) != 1 || b64.Keys[0] != base64.StdEncoding.EncodeToString([]byte("users/000")) {
		t.Fatalf("base64 listing: %v", b64.Keys)
	}
	for _, bad := range []string{"limit=0", "limit=99999", "cursor=abc", "encoding=hex"} {
		resp, body := do(t, "GET", e.url+"/v1/kv?"+bad, nil)
		wantError(t, resp, body, http.StatusBadRequest, "invalid_argument", "")
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	e := start(t, api.DefaultLimits())
	if resp, _ := do(t, "GET", e.url+"/healthz", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "GET", e.url+"/readyz", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz: %d", resp.StatusCode)
	}
	*e.ready = false
	resp, body := do(t, "GET", e.url+"/readyz", nil)
	wantError(t, resp, body, http.StatusServiceUnavailable, "not_ready", "starting")
	do(t, "PUT", e.url+"/v1/kv/a", []byte("1"))
	do(t, "GET", e.url+"/v1/kv/a", nil)
	do(t, "GET", e.url+"/v1/kv/missing", nil)
	_, metrics := do(t, "GET", e.url+"/metrics", nil)
	for _, want := range []string{
		`pando_requests_total{command="put",frontend="http",result="ok"} 1`,
		`pando_requests_total{command="get",frontend="http",result="ok"} 2`,
		`pando_request_duration_seconds_count{command="get",frontend="http"} 2`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestNamespacesLevelsAndContexts(t *testing.T) {
	e := start(t, api.DefaultLimits())
	if resp, _ := do(t, "PUT", e.url+"/v1/ns/users/kv/alice", []byte("a")); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT in users: %d", resp.StatusCode)
	}
	if resp, body := do(t, "GET", e.url+"/v1/ns/users/kv/alice?r=one", nil); resp.StatusCode != 200 || string(body) != "a" {
		t.Fatalf("GET in users: %d %q", resp.StatusCode, body)
	}
	resp, body := do(t, "GET", e.url+"/v1/kv/alice", nil)
	wantError(t, resp, body, http.StatusNotFound, "not_found", "not found")
	resp, body = do(t, "GET", e.url+"/v1/ns/nope/kv/alice", nil)
	wantError(t, resp, body, http.StatusNotFound, "no_namespace", `"nope"`)
	resp, body = do(t, "GET", e.url+"/v1/ns/users/kv/alice?r=2", nil)
	wantError(t, resp, body, http.StatusBadRequest, "invalid_argument", "2 replicas required, the namespace keeps 1")
	resp, body = do(t, "PUT", e.url+"/v1/ns/users/kv/alice?w=most", []byte("x"))
	wantError(t, resp, body, http.StatusBadRequest, "invalid_argument", "w:")
	// Two writes with the empty context make siblings; reading returns the
	// context; writing it back resolves them.
	for _, v := range []string{"x", "y"} {
		req, _ := http.NewRequest("PUT", e.url+"/v1/kv/doc", strings.NewReader(v))
		req.Header.Set("X-Pando-Context", "")
		r, err := http.DefaultClient.Do(req)
		if err != nil || r.StatusCode != 204 {
			t.Fatalf("PUT with empty context: %v %v", r, err)
		}
		r.Body.Close()
	}
	resp, body = do(t, "GET", e.url+"/v1/kv/doc?siblings=all", nil)
	var all struct {
		Context string
		Values  []struct{ Value []byte }
	}
	if err := json.Unmarshal(body, &all); err != nil || len(all.Values) != 2 {
		t.Fatalf("siblings=all: %s", body)
	}
	if resp.Header.Get("X-Pando-Siblings") != "2" || resp.Header.Get("X-Pando-Context") != all.Context {
		t.Fatalf("sibling headers: %v", resp.Header)
	}
	req, _ := http.NewRequest("PUT", e.url+"/v1/kv/doc", strings.NewReader("xy"))
	req.Header.Set("X-Pando-Context", all.Context)
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 204 {
		t.Fatalf("PUT with context: %v %v", r, err)
	}
	resp, body = do(t, "GET", e.url+"/v1/kv/doc", nil)
	if string(body) != "xy" || resp.Header.Get("X-Pando-Siblings") != "1" {
		t.Fatalf("after resolution: %q %v", body, resp.Header)
	}
	req, _ = http.NewRequest("PUT", e.url+"/v1/kv/doc", strings.NewReader("z"))
	req.Header.Set("X-Pando-Context", "!!!")
	r, _ := http.DefaultClient.Do(req)
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	wantError(t, r, b, http.StatusBadRequest, "invalid_argument", "X-Pando-Context")
}
