package resp

import "github.com/pandodb/pando/internal/api"

// CommandPerm names what the command called name needs: noauth, login,
// read, write, write-all or admin ("" for no such command).
func CommandPerm(name string) string {
	m, _ := api.NewMetrics(nil)
	c, ok := commandTable(m)[name]
	if !ok {
		return ""
	}
	return [...]string{"", "noauth", "login", "read", "write", "write-all", "admin"}[c.perm]
}
