package ring

import (
	"fmt"
	"testing"
)

// The vectors of the Redis Cluster specification ("the output of CRC16
// for the string 123456789 is 0x31C3") and slots reported by a Redis
// server's CLUSTER KEYSLOT.
func TestSlotsAsRedisClusterComputesThem(t *testing.T) {
	if got := crc16([]byte("123456789")); got != 0x31C3 {
		t.Fatalf("CRC16(123456789) = %#x, want 0x31c3", got)
	}
	for key, want := range map[string]int{
		"somekey":              11058,
		"foo":                  12182,
		"bar":                  5061,
		"":                     0,
		"{user1000}.following": Slot([]byte("user1000")),
		"foo{}{bar}":           Slot([]byte("foo{}{bar}")), // "{}" is no tag: the whole key
		"foo{{bar}}zap":        Slot([]byte("{bar")),
		"foo{bar}{zap}":        Slot([]byte("bar")),
		"{user1000":            Slot([]byte("{user1000")),
	} {
		if got := Slot([]byte(key)); got != want {
			t.Errorf("Slot(%q) = %d, want %d", key, got, want)
		}
	}
	if Slot([]byte("{user1000}.following")) != Slot([]byte("{user1000}.followers")) {
		t.Fatal("keys with one hash tag are in different slots")
	}
}

func TestSlotRangesCoverEverySlotOnce(t *testing.T) {
	for p := 1; p <= Slots; p *= 2 {
		next := 0
		for i := range p {
			first, last := SlotRange(i, p)
			if first != next || last < first {
				t.Fatalf("P=%d partition %d: slots %d-%d, want to start at %d", p, i, first, last, next)
			}
			next = last + 1
		}
		if next != Slots {
			t.Fatalf("P=%d: the ranges end at %d, want %d", p, next, Slots)
		}
	}
}

func ExampleSlot() {
	fmt.Println(Slot([]byte("{user42}.cart")) == Slot([]byte("{user42}.orders")))
	// Output: true
}
