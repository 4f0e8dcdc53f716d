package httpapi

// RouteNeeds maps each route's pattern to what it needs: nothing, login,
// data, admin or first-user.
func (s *Server) RouteNeeds() map[string]string {
	out := map[string]string{}
	for _, r := range s.routes() {
		out[r.pattern] = [...]string{"nothing", "login", "data", "admin", "first-user"}[r.need]
	}
	return out
}
