package e2e

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/pandodb/pando/internal/testutil"
)

// TestUsersAndPermissions: a cluster started with --require-auth serves
// nothing without a login but its health routes; the first admin is added
// from the node's machine, the others by an admin; redis-cli, go-redis and
// HTTP clients log in; each user does exactly what its role allows in its
// namespaces, on every node (users are in the metadata log); a removed
// user is refused from its next command; no password or hash is ever
// shown.
func TestUsersAndPermissions(t *testing.T) {
	nodes := startCluster(t, 3, "--require-auth")
	dir := t.TempDir()
	pwFile := func(name, pw string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	http1 := []string{"--http", nodes[0].http}
	if out, err := run(t, nil, append([]string{"status"}, http1...)...); err == nil || !strings.Contains(out, "authentication required") {
		t.Fatalf("status without a login: %v\n%s", err, out)
	}
	// The first admin, from this machine, with no credentials.
	if out, err := run(t, nil, append([]string{"user", "add", "root", "--role", "admin", "--password-file", pwFile("root", "r00t-pw")}, http1...)...); err != nil {
		t.Fatalf("the first admin: %v\n%s", err, out)
	}
	if out, err := run(t, nil, append([]string{"user", "add", "eve", "--role", "admin", "--password-file", pwFile("eve", "x")}, http1...)...); err == nil {
		t.Fatalf("a second user added without a login:\n%s", out)
	}
	asRoot := []string{"PANDO_USER=root", "PANDO_PASSWORD=r00t-pw"}
	for _, add := range [][]string{
		{"user", "add", "ann", "--role", "write", "--ns", "default", "--password-file", pwFile("ann", "ann-pw")},
		{"user", "add", "rob", "--role", "read", "--password-file", pwFile("rob", "rob-pw")},
	} {
		if out, err := run(t, asRoot, append(add, http1...)...); err != nil {
			t.Fatalf("%v: %v\n%s", add, err, out)
		}
	}
	out, err := run(t, asRoot, append([]string{"user", "list"}, http1...)...)
	if err != nil || !strings.Contains(out, "ann   write  default") || !strings.Contains(out, "rob   read   all") {
		t.Fatalf("user list: %v\n%s", err, out)
	}

	// redis-cli: nothing without AUTH; ann writes through n1.
	cli := needTool(t, "redis-cli")
	host, port, _ := strings.Cut(nodes[0].resp, ":")
	redisCLI := func(args ...string) string {
		out, _ := exec.Command(cli, append([]string{"-h", host, "-p", port, "--no-auth-warning"}, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	if got := redisCLI("GET", "k"); !strings.Contains(got, "NOAUTH Authentication required.") {
		t.Fatalf("redis-cli GET without AUTH: %q", got)
	}
	if got := redisCLI("--user", "ann", "--pass", "wrong", "GET", "k"); !strings.Contains(got, "WRONGPASS") {
		t.Fatalf("redis-cli with a wrong password: %q", got)
	}
	if got := redisCLI("--user", "ann", "--pass", "ann-pw", "SET", "k", "v"); got != "OK" {
		t.Fatalf("redis-cli SET as ann: %q", got)
	}
	// go-redis through n3: the users are on every node.
	login := func(user, pw string) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: nodes[2].resp, Username: user, Password: pw, MaxRetries: -1, PoolSize: 1})
		t.Cleanup(func() { c.Close() })
		return c
	}
	rob, ann := login("rob", "rob-pw"), login("ann", "ann-pw")
	if v, err := rob.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET as rob through n3: %q %v", v, err)
	}
	if err := rob.Set(ctx, "k", "w", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Fatalf("SET as the reader rob: %v", err)
	}
	if err := ann.Set(ctx, "k2", "v", 0).Err(); err != nil {
		t.Fatalf("SET as ann through n3: %v", err)
	}
	if err := ann.Do(ctx, "namespace", "other").Err(); err == nil {
		if err := ann.Set(ctx, "k", "v", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
			t.Fatalf("SET as ann outside her namespace: %v", err)
		}
	}

	// HTTP: Basic auth, the health routes open.
	req := func(method, path, user, pw string) int {
		r, _ := http.NewRequest(method, "http://"+nodes[1].http+path, strings.NewReader("v"))
		if user != "" {
			r.SetBasicAuth(user, pw)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		method, path, user, pw string
		want                   int
	}{
		{"GET", "/healthz", "", "", 200}, {"GET", "/readyz", "", "", 200}, {"GET", "/metrics", "", "", 200},
		{"GET", "/v1/kv/k", "", "", 401}, {"GET", "/v1/kv/k", "rob", "nope", 401},
		{"GET", "/v1/kv/k", "rob", "rob-pw", 200}, {"PUT", "/v1/kv/k", "rob", "rob-pw", 403},
		{"PUT", "/v1/kv/k3", "ann", "ann-pw", 204}, {"POST", "/v1/ns", "ann", "ann-pw", 403},
		{"GET", "/v1/status", "rob", "rob-pw", 200}, {"GET", "/v1/users", "rob", "rob-pw", 403},
	} {
		if got := req(tc.method, tc.path, tc.user, tc.pw); got != tc.want && !(tc.want == 204 && got == 200) {
			t.Errorf("%s %s as %q: %d, want %d", tc.method, tc.path, tc.user, got, tc.want)
		}
	}

	// A client config file holds the login (and the node's address); one
	// that others may read is refused while it holds a secret.
	cfgFile := filepath.Join(dir, "client.yaml")
	if err := os.WriteFile(cfgFile, []byte("http: "+nodes[2].http+"\nuser: root\npassword: r00t-pw\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, nil, "user", "list", "--client-config", cfgFile); err == nil || !strings.Contains(out, "chmod 600") {
		t.Fatalf("a readable client config with a password: %v\n%s", err, out)
	}
	if err := os.Chmod(cfgFile, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, []string{"PANDO_CLIENT_CONFIG=" + cfgFile}, "user", "list"); err != nil || !strings.Contains(out, "rob") {
		t.Fatalf("user list through the client config: %v\n%s", err, out)
	}
	if out, err := run(t, []string{"PANDO_USER=rob", "PANDO_PASSWORD=rob-pw"}, "user", "list", "--client-config", cfgFile); err == nil {
		t.Fatalf("the environment's login (a reader) does not win over the file's:\n%s", out)
	}

	// Tokens: made by rob for himself, used over HTTP and as his AUTH
	// password; one of ann's made by rob is refused; revoked, refused.
	asRob := []string{"PANDO_USER=rob", "PANDO_PASSWORD=rob-pw"}
	if out, err := run(t, asRob, append([]string{"token", "create", "--user", "ann"}, http1...)...); err == nil {
		t.Fatalf("rob made a token of ann:\n%s", out)
	}
	out, err = run(t, asRob, append([]string{"token", "create", "--ttl", "1h"}, http1...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	token := lines[len(lines)-1]
	if err != nil || !strings.HasPrefix(token, "pdt_") {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	bearer := func(method, path, tok string) int {
		r, _ := http.NewRequest(method, "http://"+nodes[1].http+path, strings.NewReader("v"))
		r.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := bearer("GET", "/v1/kv/k", token); got != 200 {
		t.Fatalf("GET with rob's token: %d", got)
	}
	if got := bearer("PUT", "/v1/kv/k", token); got != 403 {
		t.Fatalf("PUT with the reader rob's token: %d", got)
	}
	if got := bearer("GET", "/v1/kv/k", token[:len(token)-1]+"x"); got != 401 {
		t.Fatalf("GET with a wrong token: %d", got)
	}
	if got := redisCLI("--user", "rob", "--pass", token, "GET", "k"); got != "v" {
		t.Fatalf("redis-cli with rob's token as password: %q", got)
	}
	if out, err := run(t, []string{"PANDO_TOKEN=" + token}, append([]string{"token", "list"}, http1...)...); err != nil || strings.Count(out, "rob") != 1 {
		t.Fatalf("token list with the token: %v\n%s", err, out)
	}
	id := strings.Split(strings.TrimPrefix(token, "pdt_"), "_")[0]
	if out, err := run(t, asRob, append([]string{"token", "revoke", id}, http1...)...); err != nil {
		t.Fatalf("token revoke: %v\n%s", err, out)
	}
	testutil.Eventually(t, "the revoked token refused on n2", func() bool { return bearer("GET", "/v1/kv/k", token) == 401 })

	// A removed user is refused from its next command.
	if out, err := run(t, asRoot, append([]string{"user", "remove", "rob"}, http1...)...); err != nil {
		t.Fatalf("user remove: %v\n%s", err, out)
	}
	testutil.Eventually(t, "rob refused on n3", func() bool {
		err := rob.Get(ctx, "k").Err()
		return err != nil && strings.HasPrefix(err.Error(), "NOAUTH")
	})
	// Nothing shows a password or a hash.
	status, _ := run(t, asRoot, append([]string{"status", "--json"}, http1...)...)
	users, _ := run(t, asRoot, append([]string{"user", "list"}, http1...)...)
	for where, text := range map[string]string{"status": status, "user list": users, "n1's log": nodes[0].logs(), "n3's log": nodes[2].logs()} {
		for _, secret := range []string{"r00t-pw", "ann-pw", "rob-pw", "$argon2id", token} {
			if strings.Contains(text, secret) {
				t.Fatalf("%s shows %q", where, secret)
			}
		}
	}
}
