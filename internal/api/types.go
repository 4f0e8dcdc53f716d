package api

import "context"

// The value types of a namespace, as NamespaceInfo.Type and Value.Type name
// them.
const (
	TypeBytes   = "bytes"
	TypeCounter = "counter"
	TypeSet     = "set"
	TypeMap     = "map"
)

// Types is the service of counter, set and map namespaces, whose values are
// conflict-free replicated data types (package crdt): concurrent updates
// through any nodes, on both sides of a partition, merge by themselves.
// Operations on a key of the wrong type fail with ErrWrongType.
type Types interface {
	// Update applies op to key and says what it did. Like any eventual
	// write it needs W acknowledgements; it reads R replicas first (its
	// own copy among them) for its answer, but proceeds on what answered.
	Update(ctx context.Context, ns string, key []byte, op Op, opts WriteOptions) (OpResult, error)
	// Value returns key's value as a read at R finds it, or ErrNotFound.
	Value(ctx context.Context, ns string, key []byte, opts ReadOptions) (Value, error)
}

// OpKind is what an Op does.
type OpKind uint8

// The operations.
const (
	// OpIncrement adds Delta to a counter, or to the counter in a map's
	// field Field (a field holding an integer string becomes a counter).
	OpIncrement OpKind = iota + 1
	// OpAdd adds Members to a set.
	OpAdd
	// OpRemove removes Members from a set, or the fields they name from a
	// map.
	OpRemove
	// OpAssign sets each map field Members[i] to Values[i].
	OpAssign
	// OpClear removes everything the key holds (DEL): what the read saw,
	// so that a concurrent add or increment survives with its own effect.
	OpClear
)

// Op is one update of a counter, set or map.
type Op struct {
	Kind    OpKind
	Delta   int64
	Field   []byte
	Members [][]byte
	Values  [][]byte
}

// OpResult is what an Update did.
type OpResult struct {
	// N is, by operation: the counter's (or the map field's) new value;
	// how many members were added or removed, or fields created or
	// removed; for OpClear, 1 if the key held anything.
	N int64
}

// Value is a counter, set or map as a reader sees it.
type Value struct {
	// Type is TypeCounter, TypeSet or TypeMap.
	Type    string
	Counter int64
	// Members are a set's elements, in byte order.
	Members [][]byte
	// Fields are a map's fields, by name in byte order.
	Fields []Field
}

// Field is one field of a map. A field holds a string or a counter; a
// counter reads as its decimal value.
type Field struct {
	Name, Value []byte
}
