// Package certs makes and loads the certificates of a Pando cluster: a
// cluster CA, node certificates signed by it (for the listeners, and later
// for nodes to prove who they are to each other), and client certificates.
// Everything is crypto/x509 and ECDSA P-256; nothing is downloaded.
//
// Files: DIR/ca.crt and DIR/ca.key for the CA, DIR/NAME.crt and
// DIR/NAME.key for a node or a client. Certificates are PEM
// ("CERTIFICATE"), keys PKCS #8 PEM ("PRIVATE KEY") written with mode
// 0600. A node certificate names NAME and the hosts given (by default
// localhost, 127.0.0.1 and ::1) and serves both as a server and as a
// client certificate; a client certificate only as a client one. The CA
// is valid for ten years, the others for two; a file that exists is never
// overwritten.
//
// NodeServerConfig and NodeClientConfig are mutual TLS between nodes: a
// caller must present a certificate signed by the CA whose organizational
// unit says "node" (CreateNode's; CreateClient's say "client").
//
// ServerConfig and ClientConfig build the tls.Config of a listener and of
// a client: TLS 1.2 at least, with Go's default cipher suites (which leave
// out the weak ones). A server reads its certificate and key again when
// either file changes (checked at most once a second, on a handshake), so
// that a renewed certificate is used without a restart.
package certs
