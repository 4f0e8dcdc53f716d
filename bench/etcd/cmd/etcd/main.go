// Command etcd is etcd's server, built from the pinned module version so
// that scripts/bench-strong.sh runs the same etcd on every machine.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
