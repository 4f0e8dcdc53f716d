package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

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

// The paths of set and map updates: POST .../kv/{key}/add and /remove
// (sets: {"members":[...]}; maps remove {"fields":[...]}) and /fields (maps:
// {"fields":{"name":"value"}}).
var updateSuffixes = []string{"/add", "/remove", "/fields"}

// updateOf splits a POST's key path into the key and its update suffix.
func updateOf(path string) (key, suffix string, ok bool) {
	for _, sfx := range updateSuffixes {
		if k, found := strings.CutSuffix(path, sfx); found {
			return k, sfx, true
		}
	}
	return "", "", false
}

// update serves the set and map updates.
func (s *Server) update(w http.ResponseWriter, r *http.Request, key []byte, suffix string) error {
	if err := s.cfg.Limits.CheckKey(key); err != nil {
		return err
	}
	t, typ, ok := s.typed(namespace(r))
	if !ok || (typ != api.TypeSet && typ != api.TypeMap) || (typ == api.TypeSet && suffix == "/fields") || (typ == api.TypeMap && suffix == "/add") {
		return fmt.Errorf("%w: namespace '%s' takes no POST .../%s (sets take add and remove, maps fields and remove)", api.ErrWrongType, namespace(r), strings.TrimPrefix(suffix, "/"))
	}
	wo, err := writeOptions(r)
	if err != nil {
		return err
	}
	limit := int64(s.cfg.Limits.MaxValueBytes) * 4
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil || int64(len(body)) > limit {
		return fmt.Errorf("%w: the body is unreadable or larger than %d bytes", api.ErrInvalidArgument, limit)
	}
	var in struct {
		Members []string        `json:"members"`
		Fields  json.RawMessage `json:"fields"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return fmt.Errorf("%w: the body is not the JSON object this update takes: %v", api.ErrInvalidArgument, err)
	}
	op := api.Op{Kind: api.OpAdd}
	word := "added"
	switch {
	case suffix == "/remove" && typ == api.TypeSet:
		op.Kind, word = api.OpRemove, "removed"
	case suffix == "/remove":
		var names []string
		if err := json.Unmarshal(in.Fields, &names); err != nil {
			return fmt.Errorf("%w: fields must be a list of names: %v", api.ErrInvalidArgument, err)
		}
		in.Members, op.Kind, word = names, api.OpRemove, "removed"
	case suffix == "/fields":
		var fields map[string]string
		if err := json.Unmarshal(in.Fields, &fields); err != nil {
			return fmt.Errorf("%w: fields must be an object of names and string values: %v", api.ErrInvalidArgument, err)
		}
		op.Kind, word = api.OpAssign, "created"
		for name, v := range fields {
			op.Members = append(op.Members, []byte(name))
			op.Values = append(op.Values, []byte(v))
		}
	}
	for _, m := range in.Members {
		op.Members = append(op.Members, []byte(m))
	}
	if len(op.Members) == 0 {
		return fmt.Errorf("%w: nothing to update: give members or fields", api.ErrInvalidArgument)
	}
	for _, b := range append(op.Members, op.Values...) {
		if err := s.cfg.Limits.CheckValue(len(b)); err != nil {
			return err
		}
	}
	res, err := t.Update(r.Context(), namespace(r), key, op, wo)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int64{word: res.N})
	return nil
}
