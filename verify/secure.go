package verify

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/pandodb/pando/internal/certs"
	"github.com/pandodb/pando/internal/membership"
)

// A secure run (Config.Secure) starts the nodes as a careful operator
// would: TLS on every listener (mutual between nodes), encrypted gossip,
// and every client logged in (--require-auth). The run makes a CA, one
// node certificate for every node's address, a gossip key and the first
// admin's password under its directory; the workers and the checkers
// connect over TLS as that admin.
type secure struct {
	tls            *tls.Config // nil: plaintext
	user, password string
	flags          []string // the nodes' extra flags
}

const verifyUser = "verify"

// newSecure makes the run's certificates and secrets under dir.
func newSecure(dir string, hosts []string) (*secure, error) {
	if err := certs.CreateCA(dir); err != nil {
		return nil, err
	}
	if err := certs.CreateNode("node", append(hosts, certs.DefaultHosts...), dir, dir); err != nil {
		return nil, err
	}
	key, err := membership.NewKey()
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	s := &secure{user: verifyUser, password: hex.EncodeToString(secret)}
	for name, content := range map[string]string{"gossip.key": key, "admin.pw": s.password} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content+"\n"), 0o600); err != nil {
			return nil, err
		}
	}
	ca := filepath.Join(dir, "ca.crt")
	if s.tls, err = certs.ClientConfig(ca, "", ""); err != nil {
		return nil, err
	}
	s.flags = []string{
		"--tls-cert", filepath.Join(dir, "node.crt"), "--tls-key", filepath.Join(dir, "node.key"), "--tls-ca", ca,
		"--gossip-key-file", filepath.Join(dir, "gossip.key"),
		"--require-auth", "--admin-user", verifyUser, "--admin-password-file", filepath.Join(dir, "admin.pw"),
	}
	return s, nil
}

// httpClient is the HTTP client of a run: over TLS when it is secure.
func (c *cluster) httpClient() *http.Client {
	c.httpOnce.Do(func() {
		c.httpc = &http.Client{Timeout: 5 * time.Second}
		if c.sec != nil && c.sec.tls != nil {
			c.httpc.Transport = &http.Transport{TLSClientConfig: c.sec.tls}
		}
	})
	return c.httpc
}

// call sends a request to node n's HTTP API, logged in when the run is
// secure.
func (c *cluster) call(ctx context.Context, n *node, method, path string, body io.Reader) (*http.Response, error) {
	scheme := "http://"
	if c.sec != nil && c.sec.tls != nil {
		scheme = "https://"
	}
	req, err := http.NewRequestWithContext(ctx, method, scheme+n.httpAddr()+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.sec != nil {
		req.SetBasicAuth(c.sec.user, c.sec.password)
	}
	return c.httpClient().Do(req)
}

// waitLogin waits until node n takes the run's login (the first admin is
// made by the nodes once the cluster formed).
func (c *cluster) waitLogin(ctx context.Context, n *node, within time.Duration) error {
	if c.sec == nil {
		return nil
	}
	deadline := time.Now().Add(within)
	for {
		resp, err := c.call(ctx, n, "GET", "/v1/status", nil)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s does not take the run's login within %s: %v", n.id, within, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
