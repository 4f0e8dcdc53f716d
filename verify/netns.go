package verify

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// netnsNet puts every node in its own network namespace, joined by veth
// pairs to a bridge in the host's namespace, so that links between nodes can
// be cut for real: gossip, Raft and replication alike. The verifier itself
// talks to the nodes from the host's side of the bridge, which is never cut.
//
// Names and addresses are unique to the run (the process id picks them), and
// Close removes everything it made.
type netnsNet struct {
	prefix string // e.g. "pv1234"
	subnet string // e.g. "10.213.7" (a /24)
	n      int

	mu  sync.Mutex
	cut map[[2]int]bool // directed links currently cut
}

// netnsAvailable tells why partitions cannot run here, if they cannot.
func netnsAvailable() error {
	if os.Geteuid() != 0 {
		return errors.New("the partition nemesis needs root (network namespaces and iptables)")
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("the partition nemesis needs %s (apt-get install -y iproute2 iptables)", tool)
		}
	}
	return nil
}

func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func newNetnsNet(n int) (*netnsNet, error) {
	if err := netnsAvailable(); err != nil {
		return nil, err
	}
	pid := os.Getpid()
	nn := &netnsNet{prefix: fmt.Sprintf("pv%d", pid%100000), subnet: fmt.Sprintf("10.%d.%d", 200+pid%50, (pid/50)%250), n: n, cut: map[[2]int]bool{}}
	bridge := nn.prefix + "br"
	steps := [][]string{
		{"ip", "link", "add", bridge, "type", "bridge"},
		{"ip", "addr", "add", nn.subnet + ".254/24", "dev", bridge},
		{"ip", "link", "set", bridge, "up"},
	}
	for i := range n {
		host, peer := fmt.Sprintf("%sh%d", nn.prefix, i), fmt.Sprintf("%sn%d", nn.prefix, i)
		steps = append(steps,
			[]string{"ip", "netns", "add", nn.name(i)},
			[]string{"ip", "link", "add", host, "type", "veth", "peer", "name", peer},
			[]string{"ip", "link", "set", peer, "netns", nn.name(i)},
			[]string{"ip", "link", "set", host, "master", bridge},
			[]string{"ip", "link", "set", host, "up"},
			[]string{"ip", "netns", "exec", nn.name(i), "ip", "addr", "add", nn.ip(i) + "/24", "dev", peer},
			[]string{"ip", "netns", "exec", nn.name(i), "ip", "link", "set", peer, "up"},
			[]string{"ip", "netns", "exec", nn.name(i), "ip", "link", "set", "lo", "up"},
		)
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			nn.Close()
			return nil, fmt.Errorf("setting up network namespaces: %w", err)
		}
	}
	return nn, nil
}

func (nn *netnsNet) name(i int) string { return fmt.Sprintf("%s-n%d", nn.prefix, i+1) }
func (nn *netnsNet) ip(i int) string   { return fmt.Sprintf("%s.%d", nn.subnet, i+1) }

// setCuts makes exactly the given directed links cut (from, to: node
// indexes): packets from 'from' to 'to' are dropped where 'to' receives them
// and where 'from' sends them.
func (nn *netnsNet) setCuts(cuts map[[2]int]bool) error {
	nn.mu.Lock()
	defer nn.mu.Unlock()
	for i := range nn.n {
		ns := nn.name(i)
		if err := run("ip", "netns", "exec", ns, "iptables", "-F"); err != nil {
			return err
		}
		for j := range nn.n {
			if cuts[[2]int{j, i}] {
				if err := run("ip", "netns", "exec", ns, "iptables", "-A", "INPUT", "-s", nn.ip(j), "-j", "DROP"); err != nil {
					return err
				}
			}
			if cuts[[2]int{i, j}] {
				if err := run("ip", "netns", "exec", ns, "iptables", "-A", "OUTPUT", "-d", nn.ip(j), "-j", "DROP"); err != nil {
					return err
				}
			}
		}
	}
	nn.cut = cuts
	return nil
}

// Close removes the namespaces, veths and bridge.
func (nn *netnsNet) Close() {
	for i := range nn.n {
		_ = run("ip", "netns", "del", nn.name(i))
		_ = run("ip", "link", "del", fmt.Sprintf("%sh%d", nn.prefix, i))
	}
	_ = run("ip", "link", "del", nn.prefix+"br")
}
