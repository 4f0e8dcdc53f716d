package e2e

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pandodb/pando/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// TestKilledReplicaCatchesUpThroughHints: n3 is killed with SIGKILL while
// 10,000 writes and deletes go through n1 and n2 at QUORUM, with read repair
// and anti-entropy off on every node. Soon after its restart n3's own copy (read at ONE
// through n3) holds every write and none of the deleted keys: hints alone
// brought it back.
func TestKilledReplicaCatchesUpThroughHints(t *testing.T) {
	nodes := startCluster(t, 3, "--read-repair=false", "--anti-entropy=false")
	nodes[2].kill()
	const keys = 7500 // and every third deleted: 10,000 operations
	var wg sync.WaitGroup
	work := make(chan int)
	errs := make(chan error, 16)
	for w := range 16 {
		c := nodes[w%2].client(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				k := fmt.Sprint("k", i)
				if err := c.Set(ctx, k, k, 0).Err(); err != nil {
					errs <- fmt.Errorf("SET %s: %w", k, err)
					return
				}
				if i%3 == 0 {
					if err := c.Del(ctx, k).Err(); err != nil {
						errs <- fmt.Errorf("DEL %s: %w", k, err)
						return
					}
				}
			}
		}()
	}
	start := time.Now()
	for i := range keys {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("10,000 writes and deletes with n3 down in %v", time.Since(start).Round(time.Millisecond))

	out, err := run(t, nil, "status", "--http", nodes[0].http)
	if err != nil || !strings.Contains(out, "hints kept by n1 for replicas that missed writes: n3 ") {
		t.Fatalf("pando status through n1 with n3 down:\n%s %v", out, err)
	}

	nodes[2].restart()
	start = time.Now()
	for _, n := range nodes[:2] {
		testutil.Eventually(t, "hints for n3 to be delivered", func() bool {
			v := n.metric(t, `pando_hints_pending{node="n3"}`)
			return v == "0"
		})
	}
	t.Logf("n3 received its hints %v after its restart", time.Since(start).Round(time.Millisecond))
	nodes[2].holdsOwnCopy(t, keys)
}

// holdsOwnCopy fails t unless n's own copy, read at ONE through n, holds
// keys "k0".."k<keys-1>", each its own name as value, except every third
// (k0, k3, ...) which must be deleted.
func (n *node) holdsOwnCopy(t *testing.T, keys int) {
	t.Helper()
	one := redis.NewClient(&redis.Options{Addr: n.resp, PoolSize: 1, MaxRetries: -1})
	defer one.Close()
	if err := one.Do(ctx, "consistency", "one").Err(); err != nil {
		t.Fatal(err)
	}
	wrong := 0
	for i := range keys {
		k := fmt.Sprint("k", i)
		v, err := one.Get(ctx, k).Result()
		deleted := i%3 == 0
		if (deleted && !errors.Is(err, redis.Nil)) || (!deleted && (err != nil || v != k)) {
			if wrong++; wrong < 5 {
				t.Errorf("%s on the own copy of the node at %s: %q %v (deleted: %v)", k, n.resp, v, err, deleted)
			}
		}
	}
	if wrong > 0 {
		t.Fatalf("%d of %d keys wrong on the own copy of the node at %s", wrong, keys, n.resp)
	}
}
