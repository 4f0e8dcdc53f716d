package ring

// Slots: a key's place in the ring is decided as Redis Cluster decides it
// (https://redis.io/docs/reference/cluster-spec/, "Key distribution
// model"), so that cluster-aware Redis clients, which compute a key's slot
// themselves, send each key to a node that holds it: the slot is CRC16 of
// the key modulo 16384, where only the key's hash tag, if it has one,
// counts. Keys that share a hash tag ({user42}.cart, {user42}.orders) share
// a slot, so a partition, and so a replica set.

// Slots is the number of hash slots, Redis Cluster's.
const Slots = 16384

// SlotBits is log2(Slots): a key's 64-bit position in the ring keeps its
// slot in the top SlotBits bits.
const SlotBits = 14

// Slot returns the hash slot of key: CRC16 of its hash tag, or of the whole
// key when it has none, modulo 16384 (Redis's keyHashSlot).
func Slot(key []byte) int {
	return int(crc16(HashTag(key))) & (Slots - 1)
}

// HashTag returns the part of key that decides its slot: what lies between
// the first '{' and the first '}' after it, if that is not empty; else the
// whole key.
func HashTag(key []byte) []byte {
	for i, c := range key {
		if c != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == '}' {
				if j == i+1 {
					return key // "{}": no tag
				}
				return key[i+1 : j]
			}
		}
		return key // no closing brace
	}
	return key
}

// SlotRange returns the slots of partition p of a ring with the given
// number of partitions: [first, last], both included, as CLUSTER SLOTS
// reports them. partitions must divide Slots (a power of two up to Slots).
func SlotRange(p, partitions int) (first, last int) {
	per := Slots / partitions
	return p * per, (p+1)*per - 1
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0), the variant
// Redis Cluster uses.
func crc16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc = crc<<8 ^ crc16Table[byte(crc>>8)^c]
	}
	return crc
}

var crc16Table = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}()
