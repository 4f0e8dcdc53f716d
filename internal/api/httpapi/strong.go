package httpapi

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/pandodb/pando/internal/api"
)

// Catalog tells the front end what a namespace is.
type Catalog interface {
	Namespace(name string) (api.NamespaceInfo, bool)
}

// VersionHeader carries a strong key's version on reads, as does ETag.
const VersionHeader = "X-Pando-Version"

// incrSuffix ends the path of an increment: POST /v1/ns/{ns}/kv/{key}/incr.
const incrSuffix = "/incr"

// strong returns the KV's strong operations if namespace ns is strong.
func (s *Server) strong(ns string) (api.Strong, bool) {
	sk, ok := s.cfg.KV.(api.Strong)
	if !ok || s.cfg.Catalog == nil {
		return nil, false
	}
	info, found := s.cfg.Catalog.Namespace(ns)
	return sk, found && info.Strong
}

// etag is a version as an HTTP entity tag.
func etag(version uint64) string { return `"` + strconv.FormatUint(version, 10) + `"` }

// precondition is a write's If-Match or If-None-Match header.
type precondition struct {
	cond    api.Cond // IfAbsent (If-None-Match: *) or IfPresent (If-Match: *)
	version uint64   // If-Match: "N", a strong key's version
	byVer   bool
}

// parsePrecondition reads the headers; versions need a strong namespace.
func parsePrecondition(r *http.Request, strong bool) (precondition, error) {
	match, none := r.Header.Get("If-Match"), r.Header.Get("If-None-Match")
	switch {
	case match != "" && none != "":
		return precondition{}, fmt.Errorf("%w: If-Match and If-None-Match together", api.ErrInvalidArgument)
	case none == "*":
		return precondition{cond: api.IfAbsent}, nil
	case none != "":
		return precondition{}, fmt.Errorf("%w: If-None-Match takes only *: write if the key is absent", api.ErrInvalidArgument)
	case match == "*":
		return precondition{cond: api.IfPresent}, nil
	case match == "":
		return precondition{}, nil
	}
	if !strong {
		return precondition{}, fmt.Errorf("%w: If-Match with a version needs a strong namespace; an eventual namespace takes the causal context a read returned, in %s", api.ErrInvalidArgument, ContextHeader)
	}
	v, err := strconv.ParseUint(strings.Trim(match, `"`), 10, 64)
	if err != nil || strings.Contains(match, ",") {
		return precondition{}, fmt.Errorf("%w: If-Match %q is not one version as a GET returned it in ETag, such as \"42\"", api.ErrInvalidArgument, match)
	}
	return precondition{version: v, byVer: true}, nil
}

// getStrong answers a GET of a strong key with its version.
func (s *Server) getStrong(w http.ResponseWriter, r *http.Request, sk api.Strong, key []byte) error {
	v, version, found, err := sk.GetVersion(r.Context(), namespace(r), key)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("key %q: %w", key, api.ErrNotFound)
	}
	h := w.Header()
	h.Set("ETag", etag(version))
	h.Set(VersionHeader, strconv.FormatUint(version, 10))
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(v)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(v)
	}
	return nil
}

// writeAtVersion writes (or, with value nil, deletes) key if it is still
// at pre's version: a one-step transaction watching it.
func (s *Server) writeAtVersion(r *http.Request, sk api.Strong, key, value []byte, pre precondition) error {
	op := api.TxnOp{Kind: api.TxnSet, Key: key, Value: value}
	if value == nil {
		op = api.TxnOp{Kind: api.TxnDel, Keys: [][]byte{key}}
	}
	_, aborted, err := sk.Txn(r.Context(), namespace(r), []api.Watch{{Key: key, Version: pre.version}}, []api.TxnOp{op})
	if err != nil {
		return err
	}
	if aborted {
		return fmt.Errorf("%w: key %q is not at version %d (If-Match); nothing was changed", api.ErrConditionFailed, key, pre.version)
	}
	return nil
}

// incrResult is the answer of an increment.
type incrResult struct {
	Value int64 `json:"value"`
}

// incr serves POST .../kv/{key}/incr?by=N[&floor=F]: a linearizable
// increment of an integer in a strong namespace; with floor, a decrement
// that would leave less than F is refused (409 below_floor).
func (s *Server) incr(w http.ResponseWriter, r *http.Request, key []byte) error {
	if err := s.cfg.Limits.CheckKey(key); err != nil {
		return err
	}
	q := r.URL.Query()
	by := int64(1)
	if b := q.Get("by"); b != "" {
		var err error
		if by, err = strconv.ParseInt(b, 10, 64); err != nil {
			return fmt.Errorf("%w: by %q is not a 64-bit integer", api.ErrInvalidArgument, b)
		}
	}
	var floor *int64
	if f := q.Get("floor"); f != "" {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return fmt.Errorf("%w: floor %q is not a 64-bit integer", api.ErrInvalidArgument, f)
		}
		floor = &v
	}
	if t, typ, ok := s.typed(namespace(r)); ok {
		if typ != api.TypeCounter {
			return fmt.Errorf("%w: namespace '%s' holds %ss; increments need a counter namespace (or HINCRBY over RESP for a map's field)", api.ErrWrongType, namespace(r), typ)
		}
		return s.incrTyped(w, r, t, key, by)
	}
	sk, ok := s.cfg.KV.(api.Strong)
	if !ok {
		return fmt.Errorf("%w: increments need a counter or strong namespace", api.ErrUnsupported)
	}
	id := cmp.Or(r.Header.Get("Idempotency-Key"), r.Header.Get("X-Pando-Request-Id"))
	n, err := sk.IncrBy(r.Context(), namespace(r), key, by, floor, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, incrResult{Value: n})
	return nil
}

// isRefusal reports an answer that refuses the request for what it asked,
// not a failure of the server.
func isRefusal(err error) bool {
	for _, e := range []error{api.ErrNotFound, api.ErrConditionFailed, api.ErrBelowFloor, api.ErrNotInteger, api.ErrHashNotInteger, api.ErrOverflow, api.ErrWrongType} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// conditionFailed is the refusal of a write whose If-Match: * or
// If-None-Match: * did not hold.
func conditionFailed(key []byte, pre precondition) error {
	if pre.cond == api.IfAbsent {
		return fmt.Errorf("%w: key %q exists (If-None-Match: *); nothing was changed", api.ErrConditionFailed, key)
	}
	return fmt.Errorf("%w: key %q does not exist (If-Match: *); nothing was changed", api.ErrConditionFailed, key)
}
