package dvv

import "testing"

func TestRetireDropsOnlyEntriesWithoutValues(t *testing.T) {
	var s Set
	s = Update(nil, s, "a.1", []byte("x"))
	s = Update(s.Context(), s, "a.2", []byte("y")) // supersedes a.1's value
	s = Update(nil, s, "b.1", []byte("z"))         // concurrent: a sibling
	all := func(string) bool { return true }
	r := s.Retire(all)
	if len(r.Entries) != 2 || r.Entries[0].Node != "a.2" || r.Entries[1].Node != "b.1" {
		t.Fatalf("retired %v into %v; want a.1 gone, a.2 and b.1 kept", s.Entries, r.Entries)
	}
	if got := r.Values(); len(got) != 2 {
		t.Fatalf("values after retiring: %q", got)
	}
	if same := s.Retire(func(string) bool { return false }); len(same.Entries) != 3 {
		t.Fatalf("nothing to drop, yet %v became %v", s.Entries, same.Entries)
	}
}
