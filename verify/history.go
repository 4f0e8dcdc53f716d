package verify

import (
	"bufio"
	"encoding/json"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Event is one line of history.jsonl: a client operation's invocation or
// completion, or a fault.
type Event struct {
	Index int `json:"index"`
	// Time is nanoseconds since the run started.
	Time int64 `json:"time"`
	// Process is the client worker (-1 for the nemesis).
	Process int `json:"process"`
	// Type is invoke, ok (it happened), fail (it did not), or info (it may
	// have: a timeout, a lost answer, an UNAVAILABLE that may have landed).
	// For the nemesis: start or stop.
	Type  string `json:"type"`
	F     string `json:"f"`
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
	// Expected is what a compare-and-set expected ("" for absent).
	Expected string `json:"expected,omitempty"`
	Node     string `json:"node,omitempty"`
	Error    string `json:"error,omitempty"`
}

// history records events in memory and in history.jsonl.
type history struct {
	mu     sync.Mutex
	start  time.Time
	f      *os.File
	w      *bufio.Writer
	events []Event
}

func newHistory(path string) (*history, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &history{start: time.Now(), f: f, w: bufio.NewWriterSize(f, 1<<16)}, nil
}

func (h *history) record(e Event) Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	e.Index = len(h.events)
	e.Time = time.Since(h.start).Nanoseconds()
	h.events = append(h.events, e)
	b, _ := json.Marshal(e)
	h.w.Write(b)
	h.w.WriteByte('\n')
	return e
}

func (h *history) all() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Event(nil), h.events...)
}

func (h *history) close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.w.Flush(); err != nil {
		return err
	}
	return h.f.Close()
}

// outcome classifies a client error: ok, fail (certainly not applied) or
// info (may have been applied).
func outcome(err error) string {
	if err == nil || errors.Is(err, redis.Nil) {
		return "ok"
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "nothing was written"), strings.Contains(msg, "nothing was done"):
		return "fail"
	case strings.HasPrefix(msg, "FLOOR"):
		return "fail" // a refused debit: nothing was changed
	case strings.HasPrefix(msg, "UNAVAILABLE"), strings.HasPrefix(msg, "TIMEOUT"):
		return "info"
	case strings.HasPrefix(msg, "ERR"), strings.HasPrefix(msg, "SIBLINGS"):
		return "fail" // a refusal: nothing was done
	}
	if strings.Contains(msg, "connect: connection refused") || strings.Contains(msg, "failed to dial") {
		return "fail" // never sent
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return "info"
	}
	return "info" // connection reset, EOF: the outcome is unknown
}
