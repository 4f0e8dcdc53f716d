package membership

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// State is a member's liveness.
type State string

// The states of a member.
const (
	Alive   State = "alive"
	Suspect State = "suspect"
	Dead    State = "dead"
	Left    State = "left"
)

// Meta is what a node gossips about itself.
type Meta struct {
	ClusterAddr string `json:"rpc"`
	RESPAddr    string `json:"resp"`
	HTTPAddr    string `json:"http"`
	// Cluster is the id of the cluster the node belongs to, once it does.
	Cluster string `json:"cluster_id,omitempty"`
	// Founders is the founding set a node without a cluster has chosen
	// (see package metadata), so that nodes starting together agree.
	Founders []string `json:"founders,omitempty"`
	// Leaving is set by a node shutting down cleanly, just before it
	// leaves: gossip reports a leave and a death alike, and this tells
	// them apart.
	Leaving bool `json:"leaving,omitempty"`
}

// Member is one node as gossip knows it.
type Member struct {
	ID         string
	GossipAddr string
	Meta
	State State
}

// Up reports whether requests should be sent to the member: alive or merely
// suspected.
func (m Member) Up() bool { return m.State == Alive || m.State == Suspect }

// Config configures a node's gossip.
type Config struct {
	// NodeID is this node's unique id.
	NodeID string
	// BindAddr is the gossip address, HOST:PORT (UDP and TCP).
	BindAddr string
	// AdvertiseAddr is the address peers use, if different from BindAddr.
	AdvertiseAddr string
	// Meta is gossiped to the other nodes.
	Meta Meta
	// Join lists gossip addresses of nodes to join; this node's own may be
	// among them.
	Join []string
	// Fast selects timings for one machine (dev clusters, tests): failures
	// are detected in about a second instead of several.
	Fast bool
	// Transport replaces the network, for in-process tests
	// (memberlist.MockNetwork).
	Transport memberlist.Transport
	// OnChange is called (from gossip's goroutine; keep it quick) whenever
	// a member joins, leaves, dies or changes its metadata.
	OnChange func()
	// Keys, if set, encrypt gossip (keys.go): the first encrypts, every
	// one decrypts, and nothing else is accepted. OnRefused is called for
	// each message refused for want of a key (quick, from gossip's
	// goroutines).
	Keys      [][]byte
	OnRefused func(detail string)
	// Verify, if set, must accept a node before it counts here (with TLS:
	// its cluster address presents a node certificate of the cluster's
	// CA); see verify.go.
	Verify func(Member) error
	Logger *slog.Logger
}

// Membership is a node's view of the cluster.
type Membership struct {
	cfg Config
	log *slog.Logger
	ml  *memberlist.Memberlist
	// keyring holds the gossip keys; nil without encryption.
	keyring *memberlist.Keyring
	refused *refusals

	metaMu sync.Mutex
	meta   []byte

	mu      sync.Mutex
	members map[string]Member

	stop chan struct{}
	wg   sync.WaitGroup
}

// New starts gossiping. Call Join to find the others, Shutdown to stop.
func New(cfg Config) (*Membership, error) {
	if cfg.NodeID == "" {
		return nil, errors.New("membership: no node id")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	meta, err := json.Marshal(cfg.Meta)
	if err != nil {
		return nil, err
	}
	m := &Membership{
		cfg:     cfg,
		log:     cfg.Logger.With("subsystem", "membership"),
		meta:    meta,
		members: map[string]Member{},
		stop:    make(chan struct{}),
	}
	mc := memberlist.DefaultLANConfig()
	if cfg.Fast {
		mc = memberlist.DefaultLocalConfig()
		mc.ProbeInterval = 200 * time.Millisecond
		mc.ProbeTimeout = 100 * time.Millisecond
		mc.SuspicionMult = 2
		mc.GossipInterval = 50 * time.Millisecond
		mc.PushPullInterval = 2 * time.Second
	}
	mc.Name = cfg.NodeID
	mc.Delegate = delegate{m}
	mc.Events = events{m}
	m.refused = &refusals{fn: cfg.OnRefused}
	mc.Logger = log.New(logWriter{m.log, m.refused}, "", 0)
	if cfg.Verify != nil {
		mc.Alive = newVerifier(m)
	}
	if len(cfg.Keys) > 0 {
		ring, err := memberlist.NewKeyring(cfg.Keys, cfg.Keys[0])
		if err != nil {
			return nil, fmt.Errorf("membership: gossip keys: %w", err)
		}
		mc.Keyring = ring // with GossipVerifyIncoming/Outgoing, the defaults
		m.keyring = ring
	}
	if cfg.Transport != nil {
		mc.Transport = cfg.Transport
	} else {
		host, port, err := splitHostPort(cfg.BindAddr)
		if err != nil {
			return nil, fmt.Errorf("membership: gossip address %q: %w", cfg.BindAddr, err)
		}
		mc.BindAddr, mc.BindPort = host, port
		if cfg.AdvertiseAddr != "" {
			ah, ap, err := splitHostPort(cfg.AdvertiseAddr)
			if err != nil {
				return nil, fmt.Errorf("membership: advertise address %q: %w", cfg.AdvertiseAddr, err)
			}
			mc.AdvertiseAddr, mc.AdvertisePort = ah, ap
		}
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("membership: %w", err)
	}
	m.ml = ml
	m.record(ml.LocalNode(), Alive)
	interval := 10 * time.Second
	if cfg.Fast {
		interval = time.Second
	}
	m.wg.Add(1)
	go m.reconnect(interval)
	return m, nil
}

// reconnect keeps contacting members gossip declared dead (not those that
// left). Gossip stops probing a dead member, and after a partition each side
// gossips only with its own survivors, so without this the two sides of a
// healed partition would never meet again (Serf's reconnect loop solves the
// same problem).
func (m *Membership) reconnect(interval time.Duration) {
	defer m.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		var dead []string
		for _, mb := range m.Members() {
			if mb.State == Dead && mb.GossipAddr != "" {
				dead = append(dead, mb.GossipAddr)
			}
		}
		if len(dead) == 0 {
			continue
		}
		if n, _ := m.ml.Join(dead); n > 0 {
			m.log.Info("reconnected to members declared dead", "contacted", n)
		}
	}
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, err
	}
	return host, port, nil
}

// LocalAddr is the gossip address this node advertises.
func (m *Membership) LocalAddr() string { return m.ml.LocalNode().Address() }

// Join contacts the configured addresses until one answers, then returns;
// if none answers it keeps trying in the background (every 2s) until
// Shutdown and returns nil. It returns an error only for an empty list.
func (m *Membership) Join(ctx context.Context) error {
	var others []string
	self := m.LocalAddr()
	for _, a := range m.cfg.Join {
		if a != "" && a != self && a != m.cfg.BindAddr {
			others = append(others, a)
		}
	}
	if len(others) == 0 {
		return nil // alone, or everyone else will find us
	}
	if m.tryJoin(others) {
		return nil
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if m.tryJoin(others) {
					return
				}
			}
		}
	}()
	return nil
}

func (m *Membership) tryJoin(addrs []string) bool {
	n, err := m.ml.Join(addrs)
	if n > 0 {
		m.log.Info("joined the cluster", "contacted", n)
		return true
	}
	m.log.Debug("join attempt", "addrs", strings.Join(addrs, ","), "err", err)
	return false
}

// Members returns every member ever seen, sorted by id, with its state.
func (m *Membership) Members() []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Member, 0, len(m.members))
	for _, mb := range m.members {
		out = append(out, mb)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Member returns one member.
func (m *Membership) Member(id string) (Member, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mb, ok := m.members[id]
	return mb, ok
}

// Up reports whether node id is believed up (alive or suspect).
func (m *Membership) Up(id string) bool {
	mb, ok := m.Member(id)
	return ok && mb.Up()
}

// Shutdown leaves the cluster gracefully (others see "left", not "dead")
// and stops gossiping.
func (m *Membership) Shutdown(timeout time.Duration) error {
	close(m.stop)
	m.metaMu.Lock()
	m.cfg.Meta.Leaving = true
	m.meta, _ = json.Marshal(m.cfg.Meta)
	m.metaMu.Unlock()
	if err := m.ml.UpdateNode(timeout); err != nil {
		m.log.Debug("announcing departure", "err", err)
	}
	err := m.ml.Leave(timeout)
	if serr := m.ml.Shutdown(); err == nil {
		err = serr
	}
	m.wg.Wait()
	return err
}

func (m *Membership) record(n *memberlist.Node, st State) {
	var meta Meta
	_ = json.Unmarshal(n.Meta, &meta)
	mb := Member{ID: n.Name, GossipAddr: n.Address(), Meta: meta, State: st}
	if st == Alive && n.State == memberlist.StateSuspect {
		mb.State = Suspect
	}
	m.mu.Lock()
	old, had := m.members[n.Name]
	m.members[n.Name] = mb
	m.mu.Unlock()
	if had && sameMember(old, mb) {
		return
	}
	if had && old.State != mb.State {
		m.log.Info("member state", "node", n.Name, "from", old.State, "to", mb.State)
	}
	if m.cfg.OnChange != nil {
		m.cfg.OnChange()
	}
}

func sameMember(a, b Member) bool {
	return a.ID == b.ID && a.GossipAddr == b.GossipAddr && a.State == b.State &&
		a.ClusterAddr == b.ClusterAddr && a.RESPAddr == b.RESPAddr && a.HTTPAddr == b.HTTPAddr &&
		a.Cluster == b.Cluster && a.Leaving == b.Leaving && slices.Equal(a.Founders, b.Founders)
}

// UpdateMeta changes what this node gossips about itself and spreads it.
func (m *Membership) UpdateMeta(fn func(*Meta)) error {
	m.metaMu.Lock()
	fn(&m.cfg.Meta)
	meta, err := json.Marshal(m.cfg.Meta)
	if err == nil {
		m.meta = meta
	}
	m.metaMu.Unlock()
	if err != nil {
		return err
	}
	m.record(m.ml.LocalNode(), Alive)
	return m.ml.UpdateNode(time.Second)
}

// Self returns this node as gossip describes it.
func (m *Membership) Self() Member {
	mb, _ := m.Member(m.cfg.NodeID)
	return mb
}

type delegate struct{ m *Membership }

func (d delegate) NodeMeta(limit int) []byte {
	d.m.metaMu.Lock()
	defer d.m.metaMu.Unlock()
	if len(d.m.meta) > limit {
		return nil
	}
	return d.m.meta
}
func (delegate) NotifyMsg([]byte)                           {}
func (delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (delegate) LocalState(join bool) []byte                { return nil }
func (delegate) MergeRemoteState(buf []byte, join bool)     {}

type events struct{ m *Membership }

func (e events) NotifyJoin(n *memberlist.Node)   { e.m.record(n, Alive) }
func (e events) NotifyUpdate(n *memberlist.Node) { e.m.record(n, Alive) }
func (e events) NotifyLeave(n *memberlist.Node) {
	// memberlist reports a clean leave and a death alike here; the Leaving
	// flag the node gossiped before going tells them apart.
	var meta Meta
	_ = json.Unmarshal(n.Meta, &meta)
	if last, ok := e.m.Member(n.Name); meta.Leaving || (ok && last.Leaving) {
		e.m.record(n, Left)
	} else {
		e.m.record(n, Dead)
	}
}

// logWriter sends memberlist's log lines to slog: "[DEBUG]" and "[INFO]"
// lines at debug level, the rest at warn; refused messages (no key of
// ours) at most once per 10 s.
type logWriter struct {
	l       *slog.Logger
	refused *refusals
}

func (w logWriter) Write(p []byte) (int, error) {
	s := strings.TrimSpace(string(p))
	if refusal, logNow, skipped := w.refused.note(s); refusal {
		if logNow {
			w.l.Warn("refused gossip not encrypted with a key of this cluster (at most one line per 10s)", "detail", s, "refused_since_last_line", skipped)
		}
		return len(p), nil
	}
	if strings.Contains(s, "[DEBUG]") || strings.Contains(s, "[INFO]") {
		w.l.Debug(s)
	} else {
		w.l.Warn(s)
	}
	return len(p), nil
}

var _ io.Writer = logWriter{}
