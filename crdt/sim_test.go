package crdt

import (
	"bytes"
	"maps"
	"slices"
	"strconv"
	"strings"

	"pgregory.net/rapid"
)

// The property tests run random histories of 2-4 replicas, each operating
// as its own actor (as a node.epoch does): operations, deliveries of any
// operation's delta to any replica (out of order, twice or never), and
// full-state merges between replicas.
//
// Beside the states, a model keeps the history in the flattened terms of
// Almeida et al.: every operation is an event that says what it acts on and
// which earlier events its delta's context covers. A replica shows the
// events it has received that no event it has received covers. The model
// knows nothing of contexts, compaction, nesting or encodings; after every
// step, the replica touched must show what the model says.

// event is one operation in the model.
type event struct {
	field   string // what it acts on: fieldKey(path, kind)
	kind    Kind
	key     string // a set's element, a counter's actor; "" otherwise
	creates bool   // it adds to the value (else it only removes what it covers)
	value   string // a register's value
	tot     pn     // a counter's new totals for key
	amount  int64  // a counter's increment
	covers  []int  // the events its delta's context covers
}

// fieldKey names a field in the model and in what a Map shows: its path,
// then its kind. The top-level types use the empty path.
func fieldKey(path []string, k Kind) string { return strings.Join(path, "/") + ":" + k.String() }

// kit adapts one CRDT type to the simulation.
type kit[T any] struct {
	kind   Kind
	zero   func() T
	clone  func(T) T
	merge  func(T, T)
	encode func(T) []byte
	decode func([]byte) (T, error)
	// op performs a random operation at replica r, and returns its delta
	// and its event.
	op func(s *sim[T], r int) (T, event)
	// show renders what a state shows, in the form of renderModel.
	show func(T) string
}

type sim[T any] struct {
	t      *rapid.T
	k      *kit[T]
	reps   []T
	known  []map[int]bool // known[r][i]: replica r has merged event i's delta, or a state that had
	events []event
	deltas []T
	pool   []T // every state and delta, for the algebraic laws
}

var actorNames = []string{"n1.1", "n2.1", "n\x003.7", "n4.12"}

func newSim[T any](t *rapid.T, k *kit[T]) *sim[T] {
	s := &sim[T]{t: t, k: k, pool: []T{k.zero()}}
	for range rapid.IntRange(2, 4).Draw(t, "replicas") {
		s.reps = append(s.reps, k.zero())
		s.known = append(s.known, map[int]bool{})
	}
	return s
}

func (s *sim[T]) actor(r int) string { return actorNames[r] }

func (s *sim[T]) replica(label string) int {
	return rapid.IntRange(0, len(s.reps)-1).Draw(s.t, label)
}

func (s *sim[T]) noErr(err error) {
	if err != nil {
		s.t.Fatal(err)
	}
}

// run performs random steps, checking every replica it touches.
func (s *sim[T]) run() {
	for range rapid.IntRange(10, 80).Draw(s.t, "steps") {
		switch k := rapid.IntRange(0, 9).Draw(s.t, "step"); {
		case k < 5:
			s.operate(s.replica("at"))
		case k < 8:
			s.deliver()
		default:
			s.sync()
		}
	}
}

// operate performs an operation at replica r, and checks its delta: merged
// into a replica with the same history, once or twice, it gives the state
// the operation gave.
func (s *sim[T]) operate(r int) T {
	before, was := s.k.clone(s.reps[r]), s.enc(s.reps[r])
	delta, ev := s.k.op(s, r)
	if !bytes.Equal(s.enc(before), was) {
		s.t.Fatalf("the operation changed a clone of its replica")
	}
	s.known[r][len(s.events)] = true
	s.events = append(s.events, ev)
	s.deltas = append(s.deltas, delta)
	s.pool = append(s.pool, delta)
	s.roundTrip(delta)
	s.k.merge(before, delta)
	s.same("the delta merged at a twin", before, s.reps[r])
	s.k.merge(before, delta)
	s.same("the delta merged twice at a twin", before, s.reps[r])
	s.check(r)
	return delta
}

// deliver merges a random delta into a random replica, twice.
func (s *sim[T]) deliver() {
	if len(s.deltas) == 0 {
		return
	}
	i := rapid.IntRange(0, len(s.deltas)-1).Draw(s.t, "delta")
	r := s.replica("to")
	s.k.merge(s.reps[r], s.deltas[i])
	once := s.k.clone(s.reps[r])
	s.k.merge(s.reps[r], s.deltas[i])
	s.same("a delta merged twice", s.reps[r], once)
	s.known[r][i] = true
	s.check(r)
}

// sync merges a replica's state into another, or both ways.
func (s *sim[T]) sync() {
	a, b := s.replica("from"), s.replica("to")
	s.k.merge(s.reps[b], s.reps[a])
	maps.Copy(s.known[b], s.known[a])
	if rapid.Bool().Draw(s.t, "both ways") {
		s.reps[a] = s.k.clone(s.reps[b])
		s.known[a] = maps.Clone(s.known[b])
	}
	s.check(a)
	s.check(b)
}

// live returns the events among known that no event in known covers.
func (s *sim[T]) live(known map[int]bool) []int {
	covered := map[int]bool{}
	for i := range known {
		for _, c := range s.events[i].covers {
			covered[c] = true
		}
	}
	var out []int
	for i, ev := range s.events {
		if known[i] && ev.creates && !covered[i] {
			out = append(out, i)
		}
	}
	return out
}

// covers returns the live events at replica r that match: what an operation
// there supersedes or removes.
func (s *sim[T]) covers(r int, match func(event) bool) []int {
	var out []int
	for _, i := range s.live(s.known[r]) {
		if match(s.events[i]) {
			out = append(out, i)
		}
	}
	return out
}

// lub returns the totals of the counter events is, joined.
func (s *sim[T]) lub(is []int) pn {
	var x pn
	for _, i := range is {
		x = x.lub(s.events[i].tot)
	}
	return x
}

// model renders what a replica that received the events known shows.
func (s *sim[T]) model(known map[int]bool) string {
	byField := map[string][]event{}
	for _, i := range s.live(known) {
		byField[s.events[i].field] = append(byField[s.events[i].field], s.events[i])
	}
	if s.k.kind != KindMap {
		return renderField(s.k.kind, byField[fieldKey(nil, s.k.kind)])
	}
	var lines []string
	for f, evs := range byField {
		lines = append(lines, f+"="+renderField(evs[0].kind, evs))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// renderField renders a field's value from its live events.
func renderField(k Kind, evs []event) string {
	var out []string
	switch k {
	case KindCounter:
		var w wide
		for _, ev := range evs {
			w = w.plus(ev.tot.p, ev.tot.n)
		}
		return strconv.FormatInt(w.clamp(), 10)
	case KindFlag:
		return strconv.FormatBool(len(evs) > 0)
	case KindSet:
		for _, ev := range evs {
			out = append(out, ev.key)
		}
	case KindRegister:
		for _, ev := range evs {
			out = append(out, ev.value)
		}
	}
	slices.Sort(out)
	return strings.Join(slices.Compact(out), ",")
}

// check verifies replica r against the model, and its encoding.
func (s *sim[T]) check(r int) {
	x := s.reps[r]
	s.pool = append(s.pool, s.k.clone(x))
	s.roundTrip(x)
	if got, want := s.k.show(x), s.model(s.known[r]); got != want {
		s.t.Fatalf("replica %d shows\n%s\nthe model says\n%s", r, got, want)
	}
}

func (s *sim[T]) enc(x T) []byte { return s.k.encode(x) }

func (s *sim[T]) roundTrip(x T) {
	b := s.enc(x)
	y, err := s.k.decode(b)
	if err != nil {
		s.t.Fatalf("decode of %x: %v", b, err)
	}
	if got := s.enc(y); !bytes.Equal(got, b) {
		s.t.Fatalf("round trip: %x became %x", b, got)
	}
}

func (s *sim[T]) same(what string, x, y T) {
	if a, b := s.enc(x), s.enc(y); !bytes.Equal(a, b) {
		s.t.Fatalf("%s: %x != %x", what, a, b)
	}
}

// join returns x merged with y, leaving both alone.
func (s *sim[T]) join(x, y T) T {
	z := s.k.clone(x)
	s.k.merge(z, y)
	return z
}

// converge merges every replica's state in a random order and in the
// reverse order, checks that both give the same state, and returns it with
// the union of what the replicas knew.
func (s *sim[T]) converge() (T, map[int]bool) {
	order := rapid.Permutation(s.reps).Draw(s.t, "merge order")
	all, back := s.k.zero(), s.k.zero()
	known := map[int]bool{}
	for i, x := range order {
		s.k.merge(all, x)
		back = s.join(order[len(order)-1-i], back)
	}
	for _, k := range s.known {
		maps.Copy(known, k)
	}
	s.same("merge order", all, back)
	if got, want := s.k.show(all), s.model(known); got != want {
		s.t.Fatalf("merged state shows\n%s\nthe model says\n%s", got, want)
	}
	return all, known
}
