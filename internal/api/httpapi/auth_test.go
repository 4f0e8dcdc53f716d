package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pandodb/pando/internal/api"
	"github.com/pandodb/pando/internal/api/httpapi"
	"github.com/pandodb/pando/internal/auth"
	"github.com/pandodb/pando/internal/clock"
	"github.com/pandodb/pando/internal/coordinator"
	"github.com/pandodb/pando/internal/metadata"
	"github.com/pandodb/pando/internal/replica"
	"github.com/pandodb/pando/internal/storage"
)

// users is an Authenticator over a fixed map.
type users struct {
	m map[string]auth.User
	*auth.Checker
}

func (u *users) User(name string) (auth.User, bool) { x, ok := u.m[name]; return x, ok }
func (u *users) NoUsers() bool                      { return len(u.m) == 0 }
func (u *users) Token(string) (auth.Token, bool)    { return auth.Token{}, false }

// noCluster stands for the admin endpoints' cluster: a request the guard
// lets through reaches it, and it says so.
type noCluster struct{ httpapi.Cluster }

// TestEveryRouteIsChecked: for every route of the API (its route table),
// a request without credentials is refused with 401 unless the route is
// open, and one from a user without rights here with 403 unless the route
// needs only a login; a reader may GET data, not write it.
func TestEveryRouteIsChecked(t *testing.T) {
	eng, err := storage.Open(storage.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	store, err := replica.New(replica.Config{Engine: eng, Clock: clock.Real{}})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := auth.Hash("pw")
	us := &users{m: map[string]auth.User{
		"outsider": {Name: "outsider", Hash: h, Role: auth.Admin, Namespaces: []string{"elsewhere"}},
		"reader":   {Name: "reader", Hash: h, Role: auth.Read},
	}}
	us.Checker = &auth.Checker{Lookup: us.User, MaxFailures: 1 << 20}
	srv, err := httpapi.New(httpapi.Config{
		KV:     coordinator.Local(store, metadata.Namespace{Name: "users", N: 1, Model: metadata.Eventual, Type: metadata.Bytes}),
		Limits: api.DefaultLimits(), Clock: clock.Real{}, Gatherer: prometheus.NewRegistry(),
		Cluster: noCluster{}, Auth: us, DebugClock: clock.NewOffset(0), Pprof: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	call := func(method, path, user string) int {
		req, _ := http.NewRequest(method, hs.URL+path, strings.NewReader("{}"))
		if user != "" {
			req.SetBasicAuth(user, "pw")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	needs := srv.RouteNeeds()
	if len(needs) < 20 {
		t.Fatalf("only %d routes", len(needs))
	}
	open := map[string]bool{"GET /healthz": true, "GET /readyz": true, "GET /metrics": true}
	for pattern, need := range needs {
		if (need == "nothing") != open[pattern] {
			t.Errorf("route %s needs %s: only the health routes and /metrics are open", pattern, need)
		}
	}
	fill := strings.NewReplacer("{ns}", "users", "{key...}", "k", "{name}", "x", "{node}", "n9")
	for pattern, need := range needs {
		method, path, ok := strings.Cut(pattern, " ")
		methods := []string{method}
		if !ok {
			path, methods = method, []string{"GET", "PUT"}
		}
		path = fill.Replace(path)
		for _, m := range methods {
			got := call(m, path, "")
			if (got == http.StatusUnauthorized) != (need != "nothing") {
				t.Errorf("%s %s (%s) without a login: %d", m, path, need, got)
			}
			if need == "nothing" || need == "login" {
				continue // served: the cluster behind is not there
			}
			if got := call(m, path, "outsider"); got != http.StatusForbidden {
				t.Errorf("%s %s (%s) by a user without rights here: %d", m, path, need, got)
			}
			if need == "data" {
				got := call(m, path, "reader")
				if (got == http.StatusForbidden) != (m != "GET") {
					t.Errorf("%s %s by a reader: %d", m, path, got)
				}
			}
		}
	}
}
