package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/certs"
	"github.com/pandodb/pando/internal/testutil"
	"github.com/pandodb/pando/internal/transport"
	"github.com/pandodb/pando/internal/transport/nodepb"
	"github.com/redis/go-redis/v9"
)

// TestTLSListeners: certificates made with `pando cert`, a node started
// with them: go-redis, redis-cli and the pando CLI talk to it over TLS; a
// plaintext client, a client that does not trust the CA and one with a
// certificate from another CA get nothing.
func TestTLSListeners(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"cert", "create-ca", "--out", dir},
		{"cert", "create-node", "n1", "--ca", dir, "--out", dir},
		{"cert", "create-client", "alice", "--ca", dir, "--out", dir},
	} {
		if out, err := run(t, nil, args...); err != nil {
			t.Fatalf("pando %v: %v\n%s", args, err, out)
		}
	}
	other := t.TempDir()
	for _, args := range [][]string{{"cert", "create-ca", "--out", other}, {"cert", "create-client", "mallory", "--ca", other, "--out", other}} {
		if out, err := run(t, nil, args...); err != nil {
			t.Fatalf("pando %v: %v\n%s", args, err, out)
		}
	}
	ca := filepath.Join(dir, "ca.crt")
	n := startNode(t, t.TempDir(), "--tls-cert", filepath.Join(dir, "n1.crt"), "--tls-key", filepath.Join(dir, "n1.key"), "--tls-ca", ca)

	dial := func(cfg *tls.Config) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: n.resp, TLSConfig: cfg, MaxRetries: -1, DialTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second})
		t.Cleanup(func() { c.Close() })
		return c
	}
	trusting, err := certs.ClientConfig(ca, filepath.Join(dir, "alice.crt"), filepath.Join(dir, "alice.key"))
	if err != nil {
		t.Fatal(err)
	}
	c := dial(trusting)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET over TLS: %v", err)
	}
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET over TLS: %q %v", v, err)
	}
	if err := dial(nil).Ping(ctx).Err(); err == nil {
		t.Fatal("a plaintext client was served")
	}
	if err := dial(&tls.Config{MinVersion: tls.VersionTLS12}).Ping(ctx).Err(); err == nil {
		t.Fatal("a client that does not trust the cluster CA connected")
	}
	foreign, err := certs.ClientConfig(ca, filepath.Join(other, "mallory.crt"), filepath.Join(other, "mallory.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := dial(foreign).Ping(ctx).Err(); err == nil {
		t.Fatal("a client certificate from another CA was accepted")
	}
	if out, err := run(t, nil, "status", "--http", n.http, "--tls-ca", ca); err != nil || !strings.Contains(out, " up ") {
		t.Fatalf("pando status over HTTPS: %v\n%s", err, out)
	}
	if out, err := run(t, nil, "status", "--http", n.http); err == nil {
		t.Fatalf("pando status over plain HTTP to an HTTPS API succeeded:\n%s", out)
	}
	if cli, err := exec.LookPath("redis-cli"); err == nil {
		out, err := exec.Command(cli, "-h", "127.0.0.1", "-p", strings.Split(n.resp, ":")[1], "--tls", "--cacert", ca, "GET", "k").CombinedOutput()
		switch {
		case strings.Contains(string(out), "not supported") || strings.Contains(string(out), "Unrecognized option"):
			t.Logf("this redis-cli has no TLS: %s", out)
		case err != nil || strings.TrimSpace(string(out)) != "v":
			t.Fatalf("redis-cli --tls GET k: %v %q", err, out)
		}
	}
}

// TestTLSCluster: three nodes with TLS on every listener form a cluster
// over mutual TLS and replicate; a caller on the cluster listener with a
// client's certificate (signed by the same CA, but not a node's) is
// refused, counted and logged.
func TestTLSCluster(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"cert", "create-ca", "--out", dir},
		{"cert", "create-node", "node", "--ca", dir, "--out", dir},
		{"cert", "create-client", "alice", "--ca", dir, "--out", dir},
	} {
		if out, err := run(t, nil, args...); err != nil {
			t.Fatalf("pando %v: %v\n%s", args, err, out)
		}
	}
	ca := filepath.Join(dir, "ca.crt")
	nodes := startCluster(t, 3, "--tls-cert", filepath.Join(dir, "node.crt"), "--tls-key", filepath.Join(dir, "node.key"), "--tls-ca", ca)
	cfg, err := certs.ClientConfig(ca, "", "")
	if err != nil {
		t.Fatal(err)
	}
	c1 := redis.NewClient(&redis.Options{Addr: nodes[0].resp, TLSConfig: cfg, MaxRetries: -1})
	c3 := redis.NewClient(&redis.Options{Addr: nodes[2].resp, TLSConfig: cfg, MaxRetries: -1})
	defer c1.Close()
	defer c3.Close()
	for i := range 20 {
		if err := c1.Set(ctx, fmt.Sprint("k", i), i, 0).Err(); err != nil {
			t.Fatalf("SET through n1: %v", err)
		}
	}
	for i := range 20 {
		if v, err := c3.Get(ctx, fmt.Sprint("k", i)).Int(); err != nil || v != i {
			t.Fatalf("GET k%d through n3: %d %v", i, v, err)
		}
	}
	var st struct {
		Nodes []struct {
			ID          string `json:"id"`
			ClusterAddr string `json:"cluster_addr"`
		} `json:"nodes"`
	}
	out, err := run(t, nil, "status", "--json", "--http", nodes[0].http, "--tls-ca", ca)
	if err != nil || json.Unmarshal([]byte(out), &st) != nil || len(st.Nodes) != 3 {
		t.Fatalf("status over HTTPS: %v\n%s", err, out)
	}
	alice, err := certs.NodeClientConfig(filepath.Join(dir, "alice.crt"), filepath.Join(dir, "alice.key"), ca)
	if err != nil {
		t.Fatal(err)
	}
	tr := transport.NewGRPC(transport.GRPCConfig{TLS: alice, Resolve: func(string) (string, bool) { return st.Nodes[0].ClusterAddr, true }})
	defer tr.Close()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := tr.Peer("n1").Raft(cctx, &nodepb.RaftRequest{}); err == nil {
		t.Fatal("a client certificate was let in on the cluster listener")
	}
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	testutil.Eventually(t, "the refusal counted", func() bool {
		resp, err := https.Get("https://" + nodes[0].http + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, l := range strings.Split(string(body), "\n") {
			// gRPC may try the handshake more than once: at least one.
			if v, ok := strings.CutPrefix(l, "pando_cluster_peers_refused_total "); ok && v != "0" {
				return true
			}
		}
		return false
	})
	if !strings.Contains(nodes[0].logs(), "is not a node's") {
		t.Fatalf("no log line with the reason:\n%s", nodes[0].logs())
	}
}

// TestDevSecure: `pando dev --secure` makes a CA and node certificates
// under its data directory, runs the cluster with TLS everywhere, and says
// how to connect; a client trusting that CA writes through one node and
// reads through another.
func TestDevSecure(t *testing.T) {
	d := startDev(t, "--secure")
	ports, base, stdout := d.ports, d.base, &d.stdout
	ca := filepath.Join(d.cmd.Args[3], "certs", "ca.crt") // under --data-dir
	if !strings.Contains(stdout.String(), "--tls --cacert "+ca) || !strings.Contains(stdout.String(), "https://") {
		t.Fatalf("the banner does not say how to connect over TLS:\n%s", stdout.String())
	}
	cfg, err := certs.ClientConfig(ca, "", "")
	if err != nil {
		t.Fatal(err)
	}
	n1 := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + base(0), TLSConfig: cfg})
	defer n1.Close()
	n3 := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", ports[2]), TLSConfig: cfg})
	defer n3.Close()
	if err := n1.Set(ctx, "hello", "world", 0).Err(); err != nil {
		t.Fatalf("write through n1 over TLS: %v", err)
	}
	if v, err := n3.Get(ctx, "hello").Result(); err != nil || v != "world" {
		t.Fatalf("read through n3 over TLS: %q %v", v, err)
	}
	if err := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + base(0), MaxRetries: -1}).Ping(ctx).Err(); err == nil {
		t.Fatal("a plaintext client was served by dev --secure")
	}
	d.stop(t)
}

// TestNodesProveWhoTheyAre: in a cluster with TLS, a node that gossips
// but presents no node certificate of the cluster's CA on its cluster
// address (one from another CA, a client certificate of the right CA, or
// none at all) is refused by gossip, counted and logged, and never listed.
func TestNodesProveWhoTheyAre(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	for _, args := range [][]string{
		{"cert", "create-ca", "--out", dir},
		{"cert", "create-node", "node", "--ca", dir, "--out", dir},
		{"cert", "create-client", "alice", "--ca", dir, "--out", dir},
		{"cert", "create-ca", "--out", other},
		{"cert", "create-node", "node", "--ca", other, "--out", other},
	} {
		if out, err := run(t, nil, args...); err != nil {
			t.Fatalf("pando %v: %v\n%s", args, err, out)
		}
	}
	ca := filepath.Join(dir, "ca.crt")
	nodes := startCluster(t, 3, "--tls-cert", filepath.Join(dir, "node.crt"), "--tls-key", filepath.Join(dir, "node.key"), "--tls-ca", ca)
	n1gossip := nodes[0].args[slices.Index(nodes[0].args, "--gossip-addr")+1]
	cfg, err := certs.ClientConfig(ca, "", "")
	if err != nil {
		t.Fatal(err)
	}
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	refused := func() float64 { // n1's pando_gossip_refused_total
		resp, err := https.Get("https://" + nodes[0].http + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		for _, l := range strings.Split(readAll(t, resp.Body), "\n") {
			if v, ok := strings.CutPrefix(l, "pando_gossip_refused_total "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				return f
			}
		}
		return 0
	}
	for i, creds := range [][3]string{
		{filepath.Join(other, "node.crt"), filepath.Join(other, "node.key"), filepath.Join(other, "ca.crt")}, // another CA
		{filepath.Join(dir, "alice.crt"), filepath.Join(dir, "alice.key"), ca},                               // a client's
		{}, // none: a plaintext node
	} {
		id := fmt.Sprintf("intruder%d", i)
		before := refused()
		args := []string{"server", "--node-id", id, "--data-dir", t.TempDir(),
			"--resp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--cluster-addr", "127.0.0.1:0",
			"--gossip-addr", "127.0.0.1:0", "--join", n1gossip, "--gossip-profile", "local"}
		if creds[0] != "" {
			args = append(args, "--tls-cert", creds[0], "--tls-key", creds[1], "--tls-ca", creds[2])
		}
		cmd := exec.Command(pandoBin, args...)
		var log bytes.Buffer
		cmd.Stderr = &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				t.Log(log.String())
			}
		})
		testutil.Eventually(t, "n1 to refuse "+id, func() bool { return refused() > before })
		out, err := run(t, nil, "status", "--http", nodes[0].http, "--tls-ca", ca)
		if err != nil || strings.Contains(out, id) {
			t.Fatalf("%s is listed:\n%s %v", id, out, err)
		}
	}
	testutil.Eventually(t, "the refusal logged", func() bool {
		return strings.Contains(nodes[0].logs(), "refused a node that does not prove who it is")
	})
}

// TestSIGHUPReloadsCertificates: a node's certificate renewed in place,
// with the files' old times (which the once-a-second look at the files
// cannot tell from the old pair), is served after a SIGHUP, without a
// restart.
func TestSIGHUPReloadsCertificates(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	for _, args := range [][]string{
		{"cert", "create-ca", "--out", dir},
		{"cert", "create-node", "n1", "--ca", dir, "--out", dir},
		{"cert", "create-node", "n1", "--ca", dir, "--out", other},
	} {
		if out, err := run(t, nil, args...); err != nil {
			t.Fatalf("pando %v: %v\n%s", args, err, out)
		}
	}
	ca := filepath.Join(dir, "ca.crt")
	n := startNode(t, t.TempDir(), "--tls-cert", filepath.Join(dir, "n1.crt"), "--tls-key", filepath.Join(dir, "n1.key"), "--tls-ca", ca)
	ccfg, err := certs.ClientConfig(ca, "", "")
	if err != nil {
		t.Fatal(err)
	}
	serial := func() string {
		t.Helper()
		c, err := tls.Dial("tcp", n.resp, ccfg)
		if err != nil {
			t.Fatalf("TLS handshake: %v", err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	first := serial()
	testutil.OverwriteKeepingTimes(t, other, dir, "n1.crt", "n1.key")

	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the renewed certificate served after SIGHUP", func() bool { return serial() != first })
	if err := redis.NewClient(&redis.Options{Addr: n.resp, TLSConfig: ccfg}).Ping(ctx).Err(); err != nil {
		t.Fatalf("the node after SIGHUP: %v", err)
	}
}
