package certs

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/testutil"
)

func leaf(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(file+".crt", file+".key")
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCertificatesChainToTheCA: a node certificate is valid, under the
// cluster CA, for its name and its hosts as a server and as a client; a
// client certificate only as a client; a certificate from another CA is
// not; keys are private to their owner; nothing is overwritten.
func TestCertificatesChainToTheCA(t *testing.T) {
	dir := t.TempDir()
	if err := CreateCA(dir); err != nil {
		t.Fatal(err)
	}
	if err := CreateNode("n1", nil, dir, dir); err != nil {
		t.Fatal(err)
	}
	if err := CreateNode("n2", []string{"db2.example", "10.0.0.2"}, dir, dir); err != nil {
		t.Fatal(err)
	}
	if err := CreateClient("alice", dir, dir); err != nil {
		t.Fatal(err)
	}
	roots, err := Pool(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	server := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	client := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	n1 := leaf(t, filepath.Join(dir, "n1"))
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := n1.VerifyHostname(host); err != nil {
			t.Errorf("n1 for %s: %v", host, err)
		}
	}
	if _, err := n1.Verify(server); err != nil {
		t.Errorf("n1 as a server: %v", err)
	}
	if _, err := n1.Verify(client); err != nil {
		t.Errorf("n1 as a client: %v", err)
	}
	n2 := leaf(t, filepath.Join(dir, "n2"))
	for _, host := range []string{"db2.example", "10.0.0.2", "n2"} {
		if err := n2.VerifyHostname(host); err != nil {
			t.Errorf("n2 for %s: %v", host, err)
		}
	}
	if n2.VerifyHostname("localhost") == nil {
		t.Error("n2, made for other hosts, is valid for localhost")
	}
	alice := leaf(t, filepath.Join(dir, "alice"))
	if _, err := alice.Verify(client); err != nil {
		t.Errorf("alice as a client: %v", err)
	}
	if _, err := alice.Verify(server); err == nil {
		t.Error("a client certificate is valid for a server")
	}
	other := t.TempDir()
	if err := CreateCA(other); err != nil {
		t.Fatal(err)
	}
	if err := CreateNode("n1", nil, other, other); err != nil {
		t.Fatal(err)
	}
	if _, err := leaf(t, filepath.Join(other, "n1")).Verify(server); err == nil {
		t.Error("a node certificate from another CA verifies")
	}
	for _, f := range []string{"ca.key", "n1.key", "alice.key"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, st.Mode(), err)
		}
	}
	if err := CreateNode("n1", nil, dir, dir); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("making n1 again: %v", err)
	}
	if err := CreateNode("../x", nil, dir, dir); err == nil {
		t.Error("a name with a path in it was accepted")
	}
	if err := CreateClient("bob", t.TempDir(), dir); err == nil || !strings.Contains(err.Error(), "create-ca") {
		t.Errorf("a client certificate without a CA: %v", err)
	}
}

// TestTLSHandshakeAndReload: a server and a client configured from the
// files talk TLS; a plaintext client gets nothing it can use; a renewed
// certificate is served without a restart.
func TestTLSHandshakeAndReload(t *testing.T) {
	dir := t.TempDir()
	if err := CreateCA(dir); err != nil {
		t.Fatal(err)
	}
	if err := CreateNode("n1", nil, dir, dir); err != nil {
		t.Fatal(err)
	}
	scfg, err := ServerConfig(filepath.Join(dir, "n1.crt"), filepath.Join(dir, "n1.key"), filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	ln, serial := echoServer(t, scfg, dir)
	first := serial()
	// Plaintext: the server answers with a TLS alert, not with service.
	plain, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = plain.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = plain.Write([]byte("PING\r\n"))
	buf := make([]byte, 64)
	n, _ := plain.Read(buf)
	plain.Close()
	if strings.Contains(string(buf[:n]), "PING") {
		t.Fatal("a plaintext client was served")
	}
	// Renew: a new pair under the same names.
	for _, f := range []string{"n1.crt", "n1.key"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := CreateNode("n1", nil, dir, dir); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for serial() == first {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was never served")
		}
		time.Sleep(100 * time.Millisecond) // the server looks at the files once a second
	}
}

// echoServer serves an echo over TLS with scfg, and returns its listener
// and a function that reports the serial number of the certificate it
// serves now (trusting the CA in dir).
func echoServer(t *testing.T, scfg *tls.Config, dir string) (net.Listener, func() string) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", scfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	ccfg, err := ClientConfig(filepath.Join(dir, "ca.crt"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	return ln, func() string {
		t.Helper()
		c, err := tls.Dial("tcp", ln.Addr().String(), ccfg)
		if err != nil {
			t.Fatalf("TLS handshake: %v", err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
}

// TestReloadNow: Reload (SIGHUP) serves a renewed pair at once, also one
// written over the old files in place with their old times, which the
// once-a-second look at the files cannot tell apart; a pair that does not
// load is reported and the one in use kept.
func TestReloadNow(t *testing.T) {
	dir := t.TempDir()
	if err := CreateCA(dir); err != nil {
		t.Fatal(err)
	}
	if err := CreateNode("n1", nil, dir, dir); err != nil {
		t.Fatal(err)
	}
	crt, key := filepath.Join(dir, "n1.crt"), filepath.Join(dir, "n1.key")
	scfg, err := ServerConfig(crt, key, "")
	if err != nil {
		t.Fatal(err)
	}
	_, serial := echoServer(t, scfg, dir)
	first := serial()
	// A new pair made elsewhere, copied over the old files in place, the
	// old modification times put back.
	other := t.TempDir()
	for _, f := range []string{"ca.crt", "ca.key"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(other, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := CreateNode("n1", nil, other, other); err != nil {
		t.Fatal(err)
	}
	testutil.OverwriteKeepingTimes(t, other, dir, "n1.crt", "n1.key")

	// Reload reports every pair of the process; this test's must load.
	if err := Reload(); err != nil && strings.Contains(err.Error(), dir) {
		t.Fatal(err)
	}
	second := serial()
	if second == first {
		t.Fatal("after Reload the old certificate is still served")
	}
	if err := os.WriteFile(key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Reload(); err == nil || !strings.Contains(err.Error(), key) {
		t.Fatalf("Reload of a broken key: %v", err)
	}
	if got := serial(); got != second {
		t.Fatalf("a broken renewal replaced the pair in use: %s, want %s", got, second)
	}
}
