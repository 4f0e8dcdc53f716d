package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"
	"weak"
)

// DefaultHosts are the names a node certificate carries when none are
// given: a node reached on loopback.
var DefaultHosts = []string{"localhost", "127.0.0.1", "::1"}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CreateCA makes a cluster CA in dir: ca.crt and ca.key.
func CreateCA(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl, err := template("Pando cluster CA", 10*365*24*time.Hour)
	if err != nil {
		return err
	}
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	return write(dir, "ca", der, key)
}

// CreateNode makes a certificate for node name, signed by the CA in caDir,
// in dir: name.crt and name.key. hosts are the DNS names and IP addresses
// it is valid for (DefaultHosts when empty); it serves as a server and as
// a client certificate.
func CreateNode(name string, hosts []string, caDir, dir string) error {
	if len(hosts) == 0 {
		hosts = DefaultHosts
	}
	return create(name, hosts, caDir, dir, nodeUnit, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth})
}

// The organizational units that tell a node's certificate from a client's.
const (
	nodeUnit   = "node"
	clientUnit = "client"
)

// CreateClient makes a client certificate for name, signed by the CA in
// caDir, in dir: name.crt and name.key.
func CreateClient(name, caDir, dir string) error {
	return create(name, nil, caDir, dir, clientUnit, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
}

func create(name string, hosts []string, caDir, dir, unit string, usage []x509.ExtKeyUsage) error {
	if !validName.MatchString(name) || name == "ca" {
		return fmt.Errorf("certs: %q is not a usable name: letters, digits, '.', '_' and '-', at most 64, and not \"ca\"", name)
	}
	caCert, caKey, err := loadCA(caDir)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl, err := template(name, 2*365*24*time.Hour)
	if err != nil {
		return err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = usage
	tmpl.Subject.OrganizationalUnit = []string{unit}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if len(hosts) > 0 {
		tmpl.DNSNames = append(tmpl.DNSNames, name)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	return write(dir, name, der, key)
}

func template(cn string, valid time.Duration) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Pando"}},
		NotBefore:    now.Add(-time.Hour), // a peer's clock a little behind
		NotAfter:     now.Add(valid),
	}, nil
}

// write stores a certificate and its key as dir/name.crt and dir/name.key,
// refusing to overwrite either.
func write(dir, name string, der []byte, key *ecdsa.PrivateKey) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	crt, keyPath := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	for _, p := range []string{crt, keyPath} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("certs: %s exists; nothing was written (remove it to make a new one)", p)
		}
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(crt, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func loadCA(dir string) (*x509.Certificate, any, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		return nil, nil, fmt.Errorf("certs: loading the CA from %s (make one with pando cert create-ca): %w", dir, err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, err
	}
	if !cert.IsCA {
		return nil, nil, fmt.Errorf("certs: %s/ca.crt is not a CA certificate", dir)
	}
	return cert, pair.PrivateKey, nil
}

// Pool reads the PEM certificates of file into a pool.
func Pool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("certs: no PEM certificate in %s", file)
	}
	return pool, nil
}

// ServerConfig is the TLS configuration of a listener serving certFile
// and keyFile. With caFile, a client that presents a certificate must
// present one signed by it (clients without one are let in: users and
// passwords decide what they may do).
func ServerConfig(certFile, keyFile, caFile string) (*tls.Config, error) {
	r, err := newReloader(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.get}
	if caFile != "" {
		pool, err := Pool(caFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// NodeServerConfig is the TLS configuration of the listener nodes call
// each other on: mutual TLS, where the caller must present a node
// certificate (not a client's) signed by the CA in caFile. refused, if
// set, hears why a caller was turned away.
func NodeServerConfig(certFile, keyFile, caFile string, refused func(reason string)) (*tls.Config, error) {
	cfg, err := ServerConfig(certFile, keyFile, caFile)
	if err != nil {
		return nil, err
	}
	if caFile == "" {
		return nil, errors.New("certs: nodes need the cluster CA (--tls-ca) to check each other")
	}
	pool := cfg.ClientCAs
	// Every caller is checked here, so that each refusal can be told.
	cfg.ClientAuth = tls.RequireAnyClientCert
	cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		err := verifyNode(raw, pool)
		if err != nil && refused != nil {
			refused(err.Error())
		}
		return err
	}
	return cfg, nil
}

// NodeClientConfig is the TLS configuration nodes call each other with:
// this node's certificate, and the CA a peer's must chain to.
func NodeClientConfig(certFile, keyFile, caFile string) (*tls.Config, error) {
	r, err := newReloader(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	cfg, err := ClientConfig(caFile, "", "")
	if err != nil {
		return nil, err
	}
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return r.get(nil) }
	// The peer must be a node too: a client certificate of the same CA
	// does not make a server a member.
	pool := cfg.RootCAs
	cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error { return verifyNode(raw, pool) }
	return cfg, nil
}

// ProbeNode completes a TLS handshake with the node listening at addr
// (its cluster address) under cfg (NodeClientConfig): it succeeds only if
// that address presents a node certificate of the cluster's CA valid for
// its host.
func ProbeNode(addr string, cfg *tls.Config) error {
	d := &net.Dialer{Timeout: 2 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return fmt.Errorf("no node certificate of the cluster's CA at %s: %w", addr, err)
	}
	return conn.Close()
}

// verifyNode checks that raw is a node certificate chain signed by pool.
func verifyNode(raw [][]byte, pool *x509.CertPool) error {
	if len(raw) == 0 {
		return errors.New("no certificate")
	}
	leaf, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return fmt.Errorf("unreadable certificate: %w", err)
	}
	inter := x509.NewCertPool()
	for _, r := range raw[1:] {
		if c, err := x509.ParseCertificate(r); err == nil {
			inter.AddCert(c)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("certificate of %q not signed by the cluster CA: %w", leaf.Subject.CommonName, err)
	}
	if !slices.Contains(leaf.Subject.OrganizationalUnit, nodeUnit) {
		return fmt.Errorf("certificate of %q is not a node's (pando cert create-node)", leaf.Subject.CommonName)
	}
	return nil
}

// ClientConfig is the TLS configuration of a client that trusts caFile
// (the system's roots when empty) and, with certFile and keyFile,
// presents that certificate.
func ClientConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := Pool(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("certs: a client certificate needs both its certificate and its key")
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// reloader serves a certificate and key from files, loaded again when
// either file is replaced or rewritten (looked at once a second at most),
// or on Reload. A renewed pair that does not load is logged by the caller's
// handshake failing; the previous pair stays in use.
type reloader struct {
	cert, key string

	mu      sync.Mutex
	pair    *tls.Certificate
	files   [2]os.FileInfo // of the pair loaded
	checked time.Time
}

// reloaders are the pairs in use in this process, for Reload; weak, so
// that the pairs of a listener gone (a node reopened) are let go.
var reloaders struct {
	mu  sync.Mutex
	all []weak.Pointer[reloader]
}

func newReloader(certFile, keyFile string) (*reloader, error) {
	r := &reloader{cert: certFile, key: keyFile}
	if err := r.load(); err != nil {
		return nil, err
	}
	reloaders.mu.Lock()
	reloaders.all = append(reloaders.all, weak.Make(r))
	reloaders.mu.Unlock()
	return r, nil
}

// Reload loads every certificate and key pair in use in this process again
// from its files, now rather than at the first handshake after a change
// (what SIGHUP does). A pair that does not load keeps the one in use; the
// errors are returned.
func Reload() error {
	var all []*reloader
	reloaders.mu.Lock()
	live := reloaders.all[:0]
	for _, p := range reloaders.all {
		if r := p.Value(); r != nil {
			all, live = append(all, r), append(live, p)
		}
	}
	reloaders.all = live
	reloaders.mu.Unlock()
	var errs []error
	for _, r := range all {
		r.mu.Lock()
		r.checked = time.Now()
		if err := r.load(); err != nil {
			errs = append(errs, err)
		}
		r.mu.Unlock()
	}
	return errors.Join(errs...)
}

func (r *reloader) load() error {
	var files [2]os.FileInfo
	for i, p := range []string{r.cert, r.key} {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("certs: %w", err)
		}
		files[i] = st
	}
	pair, err := tls.LoadX509KeyPair(r.cert, r.key)
	if err != nil {
		return fmt.Errorf("certs: loading %s and %s: %w", r.cert, r.key, err)
	}
	r.pair, r.files = &pair, files
	return nil
}

func (r *reloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) >= time.Second {
		r.checked = time.Now()
		changed := false
		for i, p := range []string{r.cert, r.key} {
			// Replaced (another file) or rewritten in place (a later time).
			if st, err := os.Stat(p); err == nil && (!os.SameFile(st, r.files[i]) || !st.ModTime().Equal(r.files[i].ModTime())) {
				changed = true
			}
		}
		if changed {
			_ = r.load() // a half-written renewal keeps the previous pair
		}
	}
	return r.pair, nil
}
