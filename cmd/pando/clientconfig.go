package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// The client configuration file: what the commands that talk to a node
// would otherwise take from flags and the environment, for a user who
// talks to one cluster. Flags win over the environment, which wins over
// the file. A file that holds a secret must be readable by its owner only.
//
//	http: https://db1.example:8080
//	tls-ca: /etc/pando/ca.crt
//	user: ann
//	password: ...        # or
//	token: pdt_...

// clientConfig is the file's content.
type clientConfig struct {
	HTTP     string `yaml:"http"`
	TLSCA    string `yaml:"tls-ca"`
	TLSCert  string `yaml:"tls-cert"`
	TLSKey   string `yaml:"tls-key"`
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	Token    string `yaml:"token"`
}

// clientConfigFlag is the global --client-config flag.
var clientConfigFlag string

// rootFlags are the root command's persistent flags (to know which were
// given).
var rootFlags *pflag.FlagSet

var (
	clientOnce sync.Once
	clientCfg  clientConfig
	clientErr  error
)

// defaultClientConfig is where the file is looked for when neither
// --client-config nor PANDO_CLIENT_CONFIG names one.
func defaultClientConfig() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "pando", "client.yaml")
}

// loadClientConfig reads the file once and applies it under the flags
// and the environment.
func loadClientConfig() error {
	clientOnce.Do(func() {
		path, must := clientConfigFlag, true
		if path == "" {
			path, must = defaultClientConfig(), false
		}
		if path == "" {
			return
		}
		data, err := os.ReadFile(path)
		if err != nil {
			if must || !os.IsNotExist(err) {
				clientErr = fmt.Errorf("client config: %w", err)
			}
			return
		}
		var c clientConfig
		if err := yaml.Unmarshal(data, &c); err != nil {
			clientErr = fmt.Errorf("client config %s: %w", path, err)
			return
		}
		if c.Password != "" || c.Token != "" {
			if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
				clientErr = fmt.Errorf("client config %s holds a secret and others may read it (mode %v): chmod 600 %s", path, st.Mode().Perm(), path)
				return
			}
		}
		clientCfg = c
		under := func(flag, env string, dst *string, v string) {
			if v == "" || os.Getenv(env) != "" || (rootFlags != nil && rootFlags.Changed(flag)) {
				return
			}
			*dst = v
		}
		under("http", "PANDO_HTTP", &httpFlag, c.HTTP)
		under("tls-ca", "PANDO_TLS_CA", &tlsFlags.ca, c.TLSCA)
		under("tls-cert", "PANDO_TLS_CERT", &tlsFlags.cert, c.TLSCert)
		under("tls-key", "PANDO_TLS_KEY", &tlsFlags.key, c.TLSKey)
	})
	return clientErr
}

// credentials are the login of the API calls and the load generator: a
// token, or a user and password; the environment wins over the file.
func credentials() (user, password, token string) {
	if t := os.Getenv("PANDO_TOKEN"); t != "" {
		return "", "", t
	}
	if u := os.Getenv("PANDO_USER"); u != "" {
		return u, os.Getenv("PANDO_PASSWORD"), ""
	}
	return clientCfg.User, clientCfg.Password, clientCfg.Token
}
