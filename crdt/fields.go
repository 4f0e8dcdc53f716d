package crdt

import (
	"cmp"
	"fmt"
	"slices"
)

// Kind is the type of a CRDT. It is the second byte of every encoding, and
// with a name it identifies a Map field.
type Kind uint8

// The kinds, numbered as in the encodings.
const (
	KindCounter Kind = iota + 1
	KindSet
	KindRegister
	KindFlag
	KindMap
	// KindResetCounter is a ResetCounter's; it is not a map field's kind.
	KindResetCounter
	// KindTally is a Tally's; it is not a map field's kind.
	KindTally
	// KindHash is a Hash's; it is not a map field's kind.
	KindHash
)

func (k Kind) String() string {
	switch k {
	case KindCounter:
		return "counter"
	case KindSet:
		return "set"
	case KindRegister:
		return "register"
	case KindFlag:
		return "flag"
	case KindMap:
		return "map"
	case KindResetCounter:
		return "reset-counter"
	case KindTally:
		return "tally"
	case KindHash:
		return "hash"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Field identifies a Map field: its name and the kind of its value. As in
// Riak's maps, fields of the same name and different kinds are different
// fields, so replicas that concurrently make "x" a counter and a set keep
// both and no kind has to win.
type Field struct {
	Name string
	Kind Kind
}

// fields is the dot store of a map: one dot store per field, all sharing the
// map's causal context (Almeida et al.'s ORMap, with Riak's fields keyed by
// name and kind). Counters are per actor (its totals under the event of its
// latest increment, as riak_dt_emcntr), so a remove can take them away.
type fields struct {
	counters  dotMap[dotFun[pn]]
	sets      dotMap[dotMap[dotSet]]
	registers dotMap[dotFun[text]]
	flags     dotMap[dotSet]
	maps      dotMap[*fields]
}

// join joins two maps' fields; nil stands for no fields.
func (f *fields) join(g *fields, cf, cg causalContext) *fields {
	var a, b fields
	if f != nil {
		a = *f
	}
	if g != nil {
		b = *g
	}
	r := &fields{
		counters:  a.counters.join(b.counters, cf, cg),
		sets:      a.sets.join(b.sets, cf, cg),
		registers: a.registers.join(b.registers, cf, cg),
		flags:     a.flags.join(b.flags, cf, cg),
		maps:      a.maps.join(b.maps, cf, cg),
	}
	if r.empty() {
		return nil
	}
	return r
}

func (f *fields) empty() bool {
	return f == nil || len(f.counters)+len(f.sets)+len(f.registers)+len(f.flags)+len(f.maps) == 0
}

func (f *fields) appendDots(dst []dot) []dot {
	if f == nil {
		return dst
	}
	dst = f.counters.appendDots(dst)
	dst = f.sets.appendDots(dst)
	dst = f.registers.appendDots(dst)
	dst = f.flags.appendDots(dst)
	return f.maps.appendDots(dst)
}

// at returns the fields of the nested map at path below f, empty if there
// is none.
func (f *fields) at(path []string) *fields {
	for _, name := range path {
		if f == nil {
			break
		}
		f = f.maps[name]
	}
	if f == nil {
		return &fields{}
	}
	return f
}

// dotsOf returns the events of the field (name, k); ok is false for an
// unknown kind.
func (f *fields) dotsOf(k Kind, name string) (dots []dot, ok bool) {
	switch k {
	case KindCounter:
		return f.counters[name].appendDots(nil), true
	case KindSet:
		return f.sets[name].appendDots(nil), true
	case KindRegister:
		return f.registers[name].appendDots(nil), true
	case KindFlag:
		return f.flags[name].appendDots(nil), true
	case KindMap:
		return f.maps[name].appendDots(nil), true
	}
	return nil, false
}

// list returns f's fields sorted by name, then kind.
func (f *fields) list() []Field {
	var out []Field
	add := func(k Kind, names []string) {
		for _, n := range names {
			out = append(out, Field{n, k})
		}
	}
	add(KindCounter, sortedKeys(f.counters))
	add(KindSet, sortedKeys(f.sets))
	add(KindRegister, sortedKeys(f.registers))
	add(KindFlag, sortedKeys(f.flags))
	add(KindMap, sortedKeys(f.maps))
	slices.SortFunc(out, func(a, b Field) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Kind, b.Kind))
	})
	return out
}

// nest returns the fields that hold leaf in the nested map at path.
func nest(path []string, leaf *fields) *fields {
	for i := len(path) - 1; i >= 0; i-- {
		leaf = &fields{maps: dotMap[*fields]{path[i]: leaf}}
	}
	return leaf
}

// encodeFields appends the fields, kind by kind in Kind order, each kind as
// a dotMap from names to the fields' stores.
func encodeFields(e *encoder, f *fields) {
	if f == nil {
		f = &fields{}
	}
	encodeMap(e, f.counters, encodeFun[pn])
	encodeMap(e, f.sets, encodeElems)
	encodeMap(e, f.registers, encodeFun[text])
	encodeMap(e, f.flags, encodeFun[unit])
	encodeMap(e, f.maps, encodeFields)
}

var readCounters = mapReader(funReader((*decoder).pn))

func readFields(d *decoder) (*fields, error) {
	var f fields
	var err error
	if f.counters, err = readCounters(d); err != nil {
		return nil, fmt.Errorf("counters: %w", err)
	}
	if f.sets, err = mapReader(readElems)(d); err != nil {
		return nil, fmt.Errorf("sets: %w", err)
	}
	if f.registers, err = mapReader(readValues)(d); err != nil {
		return nil, fmt.Errorf("registers: %w", err)
	}
	if f.flags, err = mapReader(readEnables)(d); err != nil {
		return nil, fmt.Errorf("flags: %w", err)
	}
	if f.maps, err = decodeMap(d, readNested); err != nil {
		return nil, fmt.Errorf("maps: %w", err)
	}
	if f.empty() {
		return nil, nil
	}
	return &f, nil
}

func readNested(d *decoder) (*fields, error) {
	if d.depth >= MaxDepth {
		return nil, fmt.Errorf("nested deeper than %d", MaxDepth)
	}
	d.depth++
	defer func() { d.depth-- }()
	return readFields(d)
}
