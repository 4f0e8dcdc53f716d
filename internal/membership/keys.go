package membership

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Gossip encryption.
//
// With keys (Config.Keys), every gossip message, UDP and TCP, is encrypted
// and authenticated with AES-GCM by memberlist's keyring: the first key
// encrypts, each of them decrypts, and a message that none of them opens,
// or that is not encrypted at all, is refused (counted through
// Config.OnRefused, never applied). A node without a key cannot gossip
// with the cluster, so it is never seen, never counted.
//
// Rotation without downtime (SetKeys on every node at each step, in any
// order within a step):
//
//  1. add the new key after the current one: every node decrypts both,
//     still encrypts with the old;
//  2. put the new key first: nodes encrypt with the new one, and every
//     node still reads both;
//  3. remove the old key.

// ParseKeys reads a gossip key file: one base64 key per line, of 16, 24 or
// 32 bytes (AES-128, -192, -256); blank lines and lines starting with #
// are skipped. The first key encrypts. Errors never quote a key.
func ParseKeys(data []byte) ([][]byte, error) {
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("membership: gossip key file, line %d: not base64", line)
		}
		switch len(k) {
		case 16, 24, 32:
		default:
			return nil, fmt.Errorf("membership: gossip key file, line %d: a key of %d bytes; want 16, 24 or 32", line, len(k))
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("membership: gossip key file: %w", err)
	}
	if len(keys) == 0 {
		return nil, errors.New("membership: gossip key file holds no key")
	}
	return keys, nil
}

// NewKey returns a new random 32-byte gossip key, base64-encoded, as a
// line of a key file.
func NewKey() (string, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(k), nil
}

// KeyID names key in logs and status: the first 8 hex digits of its
// SHA-256, never the key.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// SetKeys makes keys the gossip keys from now on: the first encrypts, all
// decrypt. The node must have started with keys: encryption cannot be
// turned on or off while it runs.
func (m *Membership) SetKeys(keys [][]byte) error {
	ring := m.keyring // nil without encryption
	if ring == nil {
		return errors.New("membership: gossip is not encrypted on this node (started without keys); restart it with them")
	}
	if len(keys) == 0 {
		return errors.New("membership: no gossip key: encryption cannot be turned off while the node runs")
	}
	for _, k := range keys {
		if err := ring.AddKey(k); err != nil {
			return fmt.Errorf("membership: gossip key %s: %w", KeyID(k), err)
		}
	}
	if err := ring.UseKey(keys[0]); err != nil {
		return fmt.Errorf("membership: gossip key %s: %w", KeyID(keys[0]), err)
	}
	for _, old := range ring.GetKeys() {
		keep := false
		for _, k := range keys {
			keep = keep || bytes.Equal(k, old)
		}
		if !keep {
			if err := ring.RemoveKey(old); err != nil {
				return fmt.Errorf("membership: gossip key %s: %w", KeyID(old), err)
			}
		}
	}
	return nil
}

// KeyIDs names the gossip keys in use, the encrypting one first; none
// without encryption.
func (m *Membership) KeyIDs() []string {
	ring := m.keyring
	if ring == nil {
		return nil
	}
	ids := []string{KeyID(ring.GetPrimaryKey())}
	for _, k := range ring.GetKeys() {
		if !bytes.Equal(k, ring.GetPrimaryKey()) {
			ids = append(ids, KeyID(k))
		}
	}
	return ids
}

// refusalMarks are in memberlist's log lines about a message that is not
// encrypted with one of this node's keys.
var refusalMarks = []string{"could decrypt", "not encrypted", "encryption is not configured", "too small to decrypt", "cannot decrypt"}

// refusals reports memberlist's refused messages to Config.OnRefused and
// logs them at most once per 10 s (a node with a wrong key sends several a
// second).
type refusals struct {
	fn     func(detail string)
	mu     sync.Mutex
	logged time.Time
	since  int
}

// note handles a memberlist log line; it reports whether the line was a
// refusal, and whether it should be logged now, with how many were not.
func (r *refusals) note(line string) (refusal, logNow bool, skipped int) {
	for _, mark := range refusalMarks {
		if strings.Contains(line, mark) {
			refusal = true
			break
		}
	}
	if !refusal {
		return false, false, 0
	}
	if r.fn != nil {
		r.fn(line)
	}
	logNow, skipped = r.tick()
	return true, logNow, skipped
}

// tick counts a refusal for the log: whether to write a line now, and how
// many refusals were not logged since the last.
func (r *refusals) tick() (logNow bool, skipped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.logged) < 10*time.Second {
		r.since++
		return false, 0
	}
	skipped, r.since, r.logged = r.since, 0, time.Now()
	return true, skipped
}
