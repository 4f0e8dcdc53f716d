package membership

import (
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Proving who a node is (Config.Verify).
//
// With a verifier, a node is let into this node's view of the cluster only
// once the verifier accepted what it gossips about itself (with TLS on:
// its cluster address presents a node certificate of the cluster's CA).
// The check runs in the background, so that gossip never waits on a
// dial: a node's first messages are refused (memberlist's alive delegate)
// until its check passed; then this node exchanges state with it (a
// push-pull), which lets it in on both sides once each has checked the
// other. A node that failed is checked
// again at most every verifyRetry. Each refusal is reported to OnRefused.

// verifyRetry is how long a failed check stands before another is tried.
const verifyRetry = 5 * time.Second

type verifier struct {
	m  *Membership
	mu sync.Mutex
	// done holds the checks that ended, by node id and cluster address;
	// running, the ones under way.
	done    map[string]verdict
	running map[string]bool
}

type verdict struct {
	err error
	at  time.Time
}

func newVerifier(m *Membership) *verifier {
	return &verifier{m: m, done: map[string]verdict{}, running: map[string]bool{}}
}

// NotifyAlive implements memberlist.AliveDelegate.
func (v *verifier) NotifyAlive(n *memberlist.Node) error {
	if n.Name == v.m.cfg.NodeID {
		return nil
	}
	var meta Meta
	_ = json.Unmarshal(n.Meta, &meta)
	key := n.Name + "\x00" + meta.ClusterAddr
	v.mu.Lock()
	d, ok := v.done[key]
	if ok && d.err == nil {
		v.mu.Unlock()
		return nil
	}
	if (!ok || time.Since(d.at) >= verifyRetry) && !v.running[key] {
		v.running[key] = true
		mb := Member{ID: n.Name, GossipAddr: n.Address(), Meta: meta, State: Alive}
		go v.check(key, mb)
	}
	v.mu.Unlock()
	err := errors.New("not verified yet")
	if ok && d.err != nil {
		err = d.err
	}
	if v.m.cfg.OnRefused != nil {
		v.m.cfg.OnRefused("node " + n.Name + ": " + err.Error())
	}
	return err
}

func (v *verifier) check(key string, mb Member) {
	err := v.m.cfg.Verify(mb)
	v.mu.Lock()
	v.done[key] = verdict{err: err, at: time.Now()}
	delete(v.running, key)
	v.mu.Unlock()
	if err == nil {
		// Exchange state with it now that it may be let in: the messages
		// that brought it were refused, and may not come again soon.
		if _, known := v.m.Member(mb.ID); !known {
			_, _ = v.m.ml.Join([]string{mb.GossipAddr})
		}
		return
	}
	if logNow, skipped := v.m.refused.tick(); logNow {
		v.m.log.Warn("refused a node that does not prove who it is (at most one line per 10s)", "node", mb.ID, "cluster_addr", mb.ClusterAddr, "err", err, "refused_since_last_line", skipped)
	}
}
