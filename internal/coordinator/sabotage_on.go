//go:build pando_sabotage

package coordinator

import (
	"fmt"
	"os"
)

func init() {
	sabotage = os.Getenv("PANDO_SABOTAGE")
	if sabotage != "" {
		fmt.Fprintf(os.Stderr, "pando: SABOTAGED BUILD: %s; this node loses acknowledged writes by design\n", sabotage)
	}
}
