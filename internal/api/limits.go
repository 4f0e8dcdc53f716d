package api

import "fmt"

// Limits bound what a client may store. Both front ends check them before a
// request reaches KV, and the Redis front end refuses an oversized bulk string
// before reading it.
type Limits struct {
	// MaxKeyBytes is the largest key in bytes (default 8 KiB).
	MaxKeyBytes int
	// MaxValueBytes is the largest value in bytes (default 16 MiB).
	MaxValueBytes int
}

// DefaultLimits returns the defaults.
func DefaultLimits() Limits {
	return Limits{MaxKeyBytes: 8 << 10, MaxValueBytes: 16 << 20}
}

// Validate reports a limit that cannot work.
func (l Limits) Validate() error {
	if l.MaxKeyBytes < 1 {
		return fmt.Errorf("max key size must be at least 1 byte, got %d", l.MaxKeyBytes)
	}
	if l.MaxValueBytes < 0 {
		return fmt.Errorf("max value size must not be negative, got %d", l.MaxValueBytes)
	}
	return nil
}

// CheckKey returns an error for an empty or oversized key.
func (l Limits) CheckKey(key []byte) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	if len(key) > l.MaxKeyBytes {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrKeyTooLarge, len(key), l.MaxKeyBytes)
	}
	return nil
}

// CheckValue returns an error for an oversized value of n bytes.
func (l Limits) CheckValue(n int) error {
	if n > l.MaxValueBytes {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrValueTooLarge, n, l.MaxValueBytes)
	}
	return nil
}
