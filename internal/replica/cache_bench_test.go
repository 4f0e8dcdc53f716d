package replica

import (
	"fmt"
	"testing"

	"github.com/pandodb/pando/dvv"
	"github.com/pandodb/pando/internal/storage"
)

func BenchmarkCacheGet(b *testing.B) {
	c := newRecordCache(32 << 20)
	const n = 100000
	keys := make([][]byte, n)
	hs := make([]uint64, n)
	for i := range n {
		k := fmt.Appendf(nil, "key:%012d", i)
		hs[i] = storage.Hash("default", k)
		keys[i] = storage.DataKeyHashed(nil, "default", hs[i], k)
		r := Record{Set: dvv.Update(nil, dvv.Set{}, "n1", EncodeSibling(false, 0, 0, []byte("xxx")))}
		c.put(hs[i], keys[i], AppendRecord(nil, &r), 0)
	}
	b.ResetTimer()
	hits := 0
	for i := 0; b.Loop(); i++ {
		j := (i * 7919) % n
		if _, _, ok := c.get(hs[j], keys[j]); ok {
			hits++
		}
	}
	b.ReportMetric(float64(hits)/float64(b.N), "hit-ratio")
}
