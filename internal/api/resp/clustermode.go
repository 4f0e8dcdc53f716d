package resp

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/pandodb/pando/ring"
)

// Cluster mode: CLUSTER SLOTS, SHARDS, NODES, KEYSLOT, INFO and MYID answer
// as a Redis Cluster would, so that cluster-aware clients (go-redis
// ClusterClient, redis-py RedisCluster, ioredis Cluster) start and send each
// key straight to a replica of its partition. Every partition is a range of
// hash slots; its "master" is its first replica that gossip believes up (the
// one that coordinates its writes), the others its replicas. A node that
// goes down drops out of the answers. Any node still serves any key, so no
// answer is ever MOVED or ASK; READONLY, READWRITE and ASKING are accepted
// and change nothing.

// Topology is the cluster as a Redis Cluster client sees it.
type Topology interface {
	// Shards returns every partition's slot range with the nodes holding
	// it that are up, its coordinating replica first.
	Shards() []Shard
	// Nodes returns every member, up or not.
	Nodes() []ClusterNode
	// Self is the id of this node.
	Self() string
}

// Shard is a partition as a slot range.
type Shard struct {
	// First and Last are its slots, both included.
	First, Last int
	Nodes       []ClusterNode
}

// ClusterNode is a node as cluster clients see it.
type ClusterNode struct {
	// ID is Pando's node id; clients see clusterID(ID).
	ID string
	// Addr is its Redis protocol address, host:port.
	Addr string
	Up   bool
}

// clusterID is a Pando node id in Redis Cluster's form: 40 hex digits.
func clusterID(id string) string {
	sum := sha1.Sum([]byte("pando-node/" + id))
	return hex.EncodeToString(sum[:])
}

func splitAddr(addr string) (string, int) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	p, _ := strconv.Atoi(port)
	return host, p
}

// topology returns the cluster, or a single node owning every slot when the
// server has no topology (a lone node).
func (c *conn) topology() ([]Shard, []ClusterNode, string) {
	if t := c.s.cfg.Topology; t != nil {
		return t.Shards(), t.Nodes(), t.Self()
	}
	self := ClusterNode{ID: c.s.cfg.NodeID, Addr: c.nc.LocalAddr().String(), Up: true}
	return []Shard{{First: 0, Last: ring.Slots - 1, Nodes: []ClusterNode{self}}}, []ClusterNode{self}, self.ID
}

func cmdCluster(c *conn, args [][]byte) error {
	sub := strings.ToLower(string(args[1]))
	switch {
	case sub == "keyslot" && len(args) == 3:
		c.w.WriteInt(ring.Slot(args[2]))
	case sub == "myid" && len(args) == 2:
		_, _, self := c.topology()
		c.w.WriteBulkString(clusterID(self))
	case sub == "slots" && len(args) == 2:
		shards, _, _ := c.topology()
		var live []Shard
		for _, sh := range shards {
			if len(sh.Nodes) > 0 {
				live = append(live, sh)
			}
		}
		c.w.WriteArray(len(live))
		for _, sh := range live {
			c.w.WriteArray(2 + len(sh.Nodes))
			c.w.WriteInt(sh.First)
			c.w.WriteInt(sh.Last)
			for _, n := range sh.Nodes {
				host, port := splitAddr(n.Addr)
				c.w.WriteArray(3)
				c.w.WriteBulkString(host)
				c.w.WriteInt(port)
				c.w.WriteBulkString(clusterID(n.ID))
			}
		}
	case sub == "shards" && len(args) == 2:
		shards, _, _ := c.topology()
		c.w.WriteArray(len(shards))
		for _, sh := range shards {
			c.w.WriteArray(4)
			c.w.WriteBulkString("slots")
			c.w.WriteArray(2)
			c.w.WriteInt(sh.First)
			c.w.WriteInt(sh.Last)
			c.w.WriteBulkString("nodes")
			c.w.WriteArray(len(sh.Nodes))
			for i, n := range sh.Nodes {
				host, port := splitAddr(n.Addr)
				role := "master"
				if i > 0 {
					role = "replica"
				}
				bulk := c.w.WriteBulkString
				c.w.WriteArray(14)
				bulk("id")
				bulk(clusterID(n.ID))
				bulk("port")
				c.w.WriteInt(port)
				bulk("ip")
				bulk(host)
				bulk("endpoint")
				bulk(host)
				bulk("role")
				bulk(role)
				bulk("replication-offset")
				c.w.WriteInt(0)
				bulk("health")
				bulk("online")
			}
		}
	case sub == "nodes" && len(args) == 2:
		c.w.WriteBulkString(clusterNodes(c.topology()))
	case sub == "info" && len(args) == 2:
		shards, nodes, _ := c.topology()
		ok, assigned := 0, 0
		masters := map[string]bool{}
		for _, sh := range shards {
			assigned += sh.Last - sh.First + 1
			if len(sh.Nodes) > 0 {
				ok += sh.Last - sh.First + 1
				masters[sh.Nodes[0].ID] = true
			}
		}
		state := "ok"
		if ok < ring.Slots {
			state = "fail"
		}
		c.w.WriteBulkString(fmt.Sprintf("cluster_enabled:1\r\ncluster_state:%s\r\ncluster_slots_assigned:%d\r\ncluster_slots_ok:%d\r\n"+
			"cluster_slots_pfail:0\r\ncluster_slots_fail:%d\r\ncluster_known_nodes:%d\r\ncluster_size:%d\r\n"+
			"cluster_current_epoch:1\r\ncluster_my_epoch:1\r\n", state, assigned, ok, assigned-ok, len(nodes), len(masters)))
	default:
		return replyError("ERR unknown subcommand or wrong number of arguments for '" + sanitize(args[1]) + "'. Try CLUSTER SLOTS, SHARDS, NODES, KEYSLOT, INFO or MYID.")
	}
	return nil
}

// clusterNodes renders CLUSTER NODES: a line per member, with the slots of
// the partitions it is the master of.
func clusterNodes(shards []Shard, nodes []ClusterNode, self string) string {
	slots := map[string][]string{}
	for _, sh := range shards {
		if len(sh.Nodes) > 0 {
			slots[sh.Nodes[0].ID] = append(slots[sh.Nodes[0].ID], fmt.Sprintf("%d-%d", sh.First, sh.Last))
		}
	}
	var b strings.Builder
	for _, n := range nodes {
		flags := "master"
		if n.ID == self {
			flags = "myself,master"
		}
		link := "connected"
		if !n.Up {
			flags += ",fail"
			link = "disconnected"
		}
		host, port := splitAddr(n.Addr)
		fmt.Fprintf(&b, "%s %s:%d@0 %s - 0 0 1 %s", clusterID(n.ID), host, port, flags, link)
		for _, s := range slots[n.ID] {
			b.WriteString(" " + s)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// cmdAccept answers READONLY, READWRITE and ASKING: any node serves any key,
// at the connection's levels, so there is nothing to switch.
func cmdAccept(c *conn, args [][]byte) error {
	c.w.WriteString("OK")
	return nil
}
