package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Token is a bearer token of a user: a long random secret that stands for
// the user's password, for programs (HTTP `Authorization: Bearer`, or as
// the password of AUTH). Only its SHA-256 is kept (the secret has 256
// bits: a slow hash adds nothing); it can expire, and be revoked.
type Token struct {
	ID   string `json:"id"`
	User string `json:"user"`
	// Hash is the hex SHA-256 of the secret.
	Hash    string    `json:"hash,omitempty"`
	Created time.Time `json:"created"`
	// Expires is when it stops working; zero: never.
	Expires time.Time `json:"expires,omitzero"`
}

// tokenPrefix starts every token, so that one pasted in a log or a
// repository is recognised (as GitHub's ghp_).
const tokenPrefix = "pdt_"

// NewToken makes a token of user, expiring after ttl (0: never), and
// returns it with the text to give its holder: shown once, never kept.
func NewToken(user string, ttl time.Duration, now time.Time) (Token, string, error) {
	id, secret := make([]byte, 8), make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		return Token{}, "", err
	}
	if _, err := rand.Read(secret); err != nil {
		return Token{}, "", err
	}
	t := Token{ID: hex.EncodeToString(id), User: user, Created: now.UTC()}
	s := base64.RawURLEncoding.EncodeToString(secret)
	sum := sha256.Sum256([]byte(s))
	t.Hash = hex.EncodeToString(sum[:])
	if ttl > 0 {
		t.Expires = t.Created.Add(ttl)
	}
	return t, tokenPrefix + t.ID + "_" + s, nil
}

// ParseToken splits a token's text into its id and secret; ok is false
// for text that is not a token.
func ParseToken(text string) (id, secret string, ok bool) {
	rest, ok := strings.CutPrefix(text, tokenPrefix)
	if !ok {
		return "", "", false
	}
	id, secret, ok = strings.Cut(rest, "_")
	if !ok || len(id) != 16 || len(secret) < 32 || len(secret) > 64 {
		return "", "", false
	}
	return id, secret, true
}

// ErrBadToken refuses a token: unknown, wrong, expired or revoked.
var ErrBadToken = errors.New("invalid, expired or revoked token")

// Check reports whether secret is t's, and t is still valid at now.
func (t Token) Check(secret string, now time.Time) error {
	sum := sha256.Sum256([]byte(secret))
	want, err := hex.DecodeString(t.Hash)
	if err != nil || subtle.ConstantTimeCompare(sum[:], want) != 1 {
		return ErrBadToken
	}
	if !t.Expires.IsZero() && !now.Before(t.Expires) {
		return ErrBadToken
	}
	return nil
}

// Validate checks a token record.
func (t Token) Validate() error {
	if h, err := hex.DecodeString(t.Hash); err != nil || len(h) != sha256.Size {
		return errors.New("auth: a token without a hash")
	}
	if _, err := hex.DecodeString(t.ID); err != nil || len(t.ID) != 16 {
		return fmt.Errorf("auth: token id %q", t.ID)
	}
	if t.User == "" {
		return errors.New("auth: a token of no user")
	}
	return nil
}

// Public is t without its hash.
func (t Token) Public() Token {
	t.Hash = ""
	return t
}
