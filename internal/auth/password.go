package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// argon2id parameters (OWASP's first recommendation).
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// MaxPasswordBytes bounds a password (Redis's AUTH takes any length; a
// bound keeps a hash's cost fixed).
const MaxPasswordBytes = 1024

// ErrBadHash is a stored hash this package cannot read.
var ErrBadHash = errors.New("auth: unreadable password hash")

// Hash returns the argon2id hash of password, in PHC string format, with
// a new random salt.
func Hash(password string) (string, error) {
	if err := checkPassword(password); err != nil {
		return "", err
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding.EncodeToString
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, b64(salt), b64(key)), nil
}

func checkPassword(password string) error {
	switch {
	case password == "":
		return errors.New("auth: empty password")
	case len(password) > MaxPasswordBytes:
		return fmt.Errorf("auth: password longer than %d bytes", MaxPasswordBytes)
	}
	return nil
}

// Verify reports whether password matches hash (from Hash), in time that
// does not depend on where they differ. A hash it cannot read is an error.
func Verify(hash, password string) (bool, error) {
	p, err := parseHash(hash)
	if err != nil {
		return false, err
	}
	if len(password) > MaxPasswordBytes {
		return false, nil
	}
	key := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1, nil
}

type hashParams struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

// parseHash reads a PHC argon2id string, refusing parameters that would
// make a verification cost more than a bounded amount.
func parseHash(s string) (hashParams, error) {
	var p hashParams
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, ErrBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, ErrBadHash
	}
	var threads uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &threads); err != nil || n != 3 ||
		fmt.Sprintf("m=%d,t=%d,p=%d", p.memory, p.time, threads) != parts[3] {
		return p, ErrBadHash
	}
	if p.memory < 8 || p.memory > 256*1024 || p.time < 1 || p.time > 16 || threads < 1 || threads > 16 {
		return p, ErrBadHash
	}
	p.threads = uint8(threads)
	var err error
	if p.salt, err = base64.RawStdEncoding.Strict().DecodeString(parts[4]); err != nil || len(p.salt) < 8 {
		return p, ErrBadHash
	}
	if p.key, err = base64.RawStdEncoding.Strict().DecodeString(parts[5]); err != nil || len(p.key) < 16 || len(p.key) > 64 {
		return p, ErrBadHash
	}
	return p, nil
}
