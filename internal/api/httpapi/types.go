package httpapi

import (
	"fmt"
	"net/http"

	"github.com/pandodb/pando/internal/api"
)

// typed returns the data-type service and the namespace's type when ns is
// a counter, set or map namespace.
func (s *Server) typed(ns string) (api.Types, string, bool) {
	t, ok := s.cfg.KV.(api.Types)
	if !ok || s.cfg.Catalog == nil {
		return nil, "", false
	}
	info, found := s.cfg.Catalog.Namespace(ns)
	if !found || info.Type == "" || info.Type == api.TypeBytes {
		return nil, "", false
	}
	return t, info.Type, true
}

// typedValue is a counter, set or map in JSON: members and fields as
// strings.
type typedValue struct {
	Type    string            `json:"type"`
	Value   *int64            `json:"value,omitempty"`
	Members []string          `json:"members,omitempty"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// getTyped answers a GET of a key in a counter, set or map namespace.
func (s *Server) getTyped(w http.ResponseWriter, r *http.Request, t api.Types, key []byte) error {
	ro, err := readOptions(r)
	if err != nil {
		return err
	}
	v, err := t.Value(r.Context(), namespace(r), key, ro)
	if err != nil {
		return err
	}
	out := typedValue{Type: v.Type}
	switch v.Type {
	case api.TypeCounter:
		out.Value = &v.Counter
	case api.TypeSet:
		out.Members = make([]string, len(v.Members))
		for i, m := range v.Members {
			out.Members[i] = string(m)
		}
	case api.TypeMap:
		out.Fields = make(map[string]string, len(v.Fields))
		for _, f := range v.Fields {
			out.Fields[string(f.Name)] = string(f.Value)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// incrTyped serves POST .../incr in a counter namespace.
func (s *Server) incrTyped(w http.ResponseWriter, r *http.Request, t api.Types, key []byte, by int64) error {
	if r.URL.Query().Get("floor") != "" {
		return fmt.Errorf("%w: a floor needs a strong namespace: a counter namespace merges concurrent decrements and cannot refuse one", api.ErrInvalidArgument)
	}
	wo, err := writeOptions(r)
	if err != nil {
		return err
	}
	res, err := t.Update(r.Context(), namespace(r), key, api.Op{Kind: api.OpIncrement, Delta: by}, wo)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, incrResult{Value: res.N})
	return nil
}
