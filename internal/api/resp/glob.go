package resp

// globMatch reports whether s matches the Redis glob pattern p: '*' any run,
// '?' one byte, '[abc]', '[^a-z]' classes, '\' escapes. It follows Redis's
// stringmatchlen, with nesting of '*' bounded by iteration instead of
// recursion, so a hostile pattern costs O(len(p)*len(s)) at worst.
func globMatch(p, s []byte) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) || pi < len(p) {
		if pi < len(p) {
			switch p[pi] {
			case '*':
				for pi < len(p) && p[pi] == '*' {
					pi++
				}
				if pi == len(p) {
					return true
				}
				starP, starS = pi, si
				continue
			case '?':
				if si < len(s) {
					pi++
					si++
					continue
				}
			case '[':
				if si < len(s) {
					if ok, next := matchClass(p, pi, s[si]); ok {
						pi = next
						si++
						continue
					}
				}
			case '\\':
				if pi+1 < len(p) {
					if si < len(s) && p[pi+1] == s[si] {
						pi += 2
						si++
						continue
					}
					break
				}
				fallthrough
			default:
				if si < len(s) && p[pi] == s[si] {
					pi++
					si++
					continue
				}
			}
		}
		// Mismatch: let the last '*' swallow one more byte, if there is one.
		if starP >= 0 && starS < len(s) {
			starS++
			pi, si = starP, starS
			continue
		}
		return false
	}
	return true
}

// matchClass matches c against the class starting at p[pi] == '['. It returns
// whether c is in it and the index after the class.
func matchClass(p []byte, pi int, c byte) (bool, int) {
	pi++
	not := pi < len(p) && p[pi] == '^'
	if not {
		pi++
	}
	match := false
	for pi < len(p) && p[pi] != ']' {
		switch {
		case p[pi] == '\\' && pi+1 < len(p):
			pi++
			if p[pi] == c {
				match = true
			}
		case pi+2 < len(p) && p[pi+1] == '-' && p[pi+2] != ']':
			lo, hi := p[pi], p[pi+2]
			if lo > hi {
				lo, hi = hi, lo
			}
			if c >= lo && c <= hi {
				match = true
			}
			pi += 2
		default:
			if p[pi] == c {
				match = true
			}
		}
		pi++
	}
	// An unterminated class ends at the pattern's end, as in Redis.
	if pi < len(p) {
		pi++
	}
	return match != not, pi
}
