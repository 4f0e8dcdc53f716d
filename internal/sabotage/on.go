//go:build pando_sabotage

package sabotage

import (
	"fmt"
	"os"
)

func init() {
	mode = os.Getenv("PANDO_SABOTAGE")
	if mode != "" {
		fmt.Fprintf(os.Stderr, "pando: SABOTAGED BUILD: %s; this node breaks its promises by design\n", mode)
	}
}
