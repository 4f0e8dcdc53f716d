package crdt

import (
	"slices"
	"strconv"
	"strings"

	"pgregory.net/rapid"
)

// The kits: each type's random operations and their events in the model.

var (
	elems     = []string{"x", "y", ""}
	regValues = []string{"v", "w", ""}
)

// state is what the simulation needs of a type.
type state[T any] interface {
	Clone() T
	Merge(T)
	Encode() []byte
}

func newKit[E any, T interface {
	*E
	state[T]
}](kind Kind, decode func([]byte) (T, error), op func(*sim[T], int) (T, event), show func(T) string) *kit[T] {
	return &kit[T]{kind: kind, zero: func() T { return new(E) }, clone: T.Clone, merge: T.Merge,
		encode: T.Encode, decode: decode, op: op, show: show}
}

var counterKit = newKit(KindCounter, DecodeCounter,
	func(s *sim[*Counter], r int) (*Counter, event) {
		a := s.actor(r)
		ev := event{field: fieldKey(nil, KindCounter), kind: KindCounter, key: a}
		ev.amount = rapid.Int64Range(-1000, 1000).Draw(s.t, "amount")
		if ev.amount != 0 {
			// The counter keeps each actor's totals: an increment
			// supersedes all of the actor's earlier ones.
			for i, o := range s.events {
				if o.key == a && o.creates {
					ev.covers = append(ev.covers, i)
				}
			}
			ev.creates, ev.tot = true, plus(s.lub(ev.covers), ev.amount)
		}
		d, err := s.reps[r].Increment(a, ev.amount)
		s.noErr(err)
		return d, ev
	},
	func(c *Counter) string { return strconv.FormatInt(c.Value(), 10) })

// plus returns x changed by a small amount.
func plus(x pn, amount int64) pn {
	if amount > 0 {
		x.p += uint64(amount)
	} else {
		x.n += uint64(-amount)
	}
	return x
}

var setKit = newKit(KindSet, DecodeSet,
	func(s *sim[*Set], r int) (*Set, event) {
		e := rapid.SampledFrom(elems).Draw(s.t, "elem")
		ev := event{field: fieldKey(nil, KindSet), kind: KindSet, key: e}
		ev.covers = s.covers(r, func(o event) bool { return o.key == e })
		if !rapid.Bool().Draw(s.t, "add") {
			return s.reps[r].Remove(e), ev
		}
		ev.creates = true
		d, err := s.reps[r].Add(s.actor(r), e)
		s.noErr(err)
		return d, ev
	},
	func(x *Set) string { return strings.Join(x.Members(), ",") })

var registerKit = newKit(KindRegister, DecodeRegister,
	func(s *sim[*Register], r int) (*Register, event) {
		ev := event{field: fieldKey(nil, KindRegister), kind: KindRegister}
		ev.covers = s.covers(r, func(event) bool { return true })
		if rapid.IntRange(0, 3).Draw(s.t, "clear") == 0 {
			return s.reps[r].Clear(), ev
		}
		ev.creates, ev.value = true, rapid.SampledFrom(regValues).Draw(s.t, "value")
		d, err := s.reps[r].Assign(s.actor(r), ev.value)
		s.noErr(err)
		return d, ev
	},
	func(x *Register) string { return strings.Join(x.Values(), ",") })

var flagKit = newKit(KindFlag, DecodeFlag,
	func(s *sim[*Flag], r int) (*Flag, event) {
		ev := event{field: fieldKey(nil, KindFlag), kind: KindFlag}
		ev.covers = s.covers(r, func(event) bool { return true })
		if !rapid.Bool().Draw(s.t, "enable") {
			return s.reps[r].Disable(), ev
		}
		ev.creates = true
		d, err := s.reps[r].Enable(s.actor(r))
		s.noErr(err)
		return d, ev
	},
	func(f *Flag) string { return strconv.FormatBool(f.Value()) })

var mapKit = newKit(KindMap, DecodeMap, mapOp, showMap)

// mapOp updates or removes a random field of a map nested up to three deep.
func mapOp(s *sim[*Map], r int) (*Map, event) {
	m, a := s.reps[r], s.actor(r)
	path := rapid.SliceOfN(rapid.SampledFrom([]string{"a", "b"}), 1, 3).Draw(s.t, "path")
	k := Kind(rapid.IntRange(1, 5).Draw(s.t, "kind"))
	ev := event{field: fieldKey(path, k), kind: k}
	inField := func(o event) bool { return o.field == ev.field }
	if k == KindMap {
		prefix := strings.Join(path, "/") + "/"
		inField = func(o event) bool { return strings.HasPrefix(o.field, prefix) }
	}
	var d *Map
	var err error
	switch op := rapid.IntRange(0, 3).Draw(s.t, "op"); {
	case k == KindMap || op == 0:
		ev.covers = s.covers(r, inField)
		d, err = m.RemoveField(k, path...)
	case k == KindCounter:
		ev.key, ev.amount = a, rapid.Int64Range(-3, 3).Draw(s.t, "amount")
		if ev.amount != 0 {
			ev.covers = s.covers(r, func(o event) bool { return inField(o) && o.key == a })
			ev.creates, ev.tot = true, plus(s.lub(ev.covers), ev.amount)
		}
		d, err = m.IncrementCounter(a, ev.amount, path...)
	case k == KindSet:
		ev.key = rapid.SampledFrom(elems).Draw(s.t, "elem")
		ev.covers = s.covers(r, func(o event) bool { return inField(o) && o.key == ev.key })
		if ev.creates = op > 1; ev.creates {
			d, err = m.AddToSet(a, ev.key, path...)
		} else {
			d, err = m.RemoveFromSet(ev.key, path...)
		}
	case k == KindRegister:
		ev.covers = s.covers(r, inField)
		ev.creates, ev.value = true, rapid.SampledFrom(regValues).Draw(s.t, "value")
		d, err = m.AssignRegister(a, ev.value, path...)
	default: // KindFlag
		ev.covers = s.covers(r, inField)
		if ev.creates = op > 1; ev.creates {
			d, err = m.EnableFlag(a, path...)
		} else {
			d, err = m.DisableFlag(path...)
		}
	}
	s.noErr(err)
	return d, ev
}

// showMap renders a map as one line per leaf field: its fieldKey, "=", and
// its value as the other kits show it.
func showMap(m *Map) string {
	var lines []string
	var walk func(path []string)
	walk = func(path []string) {
		for _, f := range m.Fields(path...) {
			p := append(slices.Clip(path), f.Name)
			var v string
			switch f.Kind {
			case KindMap:
				walk(p)
				continue
			case KindCounter:
				n, _ := m.CounterValue(p...)
				v = strconv.FormatInt(n, 10)
			case KindSet:
				members, _ := m.SetMembers(p...)
				v = strings.Join(members, ",")
			case KindRegister:
				values, _ := m.RegisterValues(p...)
				v = strings.Join(values, ",")
			case KindFlag:
				v = strconv.FormatBool(m.FlagValue(p...))
			}
			lines = append(lines, fieldKey(p, f.Kind)+"="+v)
		}
	}
	walk(nil)
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
