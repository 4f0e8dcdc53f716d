package resp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ProtocolError is malformed input. The server answers it with
// "-ERR Protocol error: ..." and closes that connection, as Redis does: after
// it the stream cannot be trusted to be at a command boundary.
type ProtocolError struct{ msg string }

func (e *ProtocolError) Error() string { return "Protocol error: " + e.msg }

func protoErr(format string, args ...any) error {
	return &ProtocolError{msg: fmt.Sprintf(format, args...)}
}

// Hard protocol bounds, independent of the configured value limits (Redis
// uses the same figures).
const (
	maxMultibulk  = 1 << 20   // arguments in one command
	maxProtoBulk  = 512 << 20 // a declared bulk length above this is malformed
	maxInlineSize = 64 << 10  // an inline command or a header line
)

// Limits bound what the reader holds in memory for one command.
type readerLimits struct {
	// maxArg is the largest argument read into memory; a larger one is
	// skipped on the wire and reported through Command.Oversized.
	maxArg int
	// maxCommand is the most argument bytes one command may hold in memory;
	// arguments beyond it are skipped too.
	maxCommand int
}

// Command is one parsed request.
type Command struct {
	// Args are the arguments, the command name first. They alias the
	// reader's buffer and are valid until the next ReadCommand.
	Args [][]byte
	// Oversized is the declared size of the first argument that was skipped
	// for exceeding the limits, or 0. Its Args entry is empty.
	Oversized int
	// OversizedIndex is that argument's position in Args.
	OversizedIndex int
}

// Reader parses RESP requests (arrays of bulk strings, or inline commands)
// from a stream without ever buffering more than its limits allow.
type Reader struct {
	br     *bufio.Reader
	lim    readerLimits
	arena  []byte
	spans  [][2]int
	inline [][]byte
}

// NewReader returns a Reader over br.
func newReader(br *bufio.Reader, lim readerLimits) *Reader {
	return &Reader{br: br, lim: lim}
}

// readLine returns the next line without its CRLF (or LF, for inline
// commands). The slice is valid until the next read.
func (r *Reader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, protoErr("too big inline request")
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// ReadCommand reads the next command into cmd. Empty requests (blank inline
// lines, "*0") are skipped. It returns io.EOF at a clean end of stream and a
// *ProtocolError for malformed input.
func (r *Reader) ReadCommand(cmd *Command) error {
	for {
		*cmd = Command{Args: cmd.Args[:0]}
		line, err := r.readLine()
		if err != nil {
			return err
		}
		if len(line) == 0 {
			continue
		}
		if line[0] != '*' {
			if err := r.parseInline(line, cmd); err != nil {
				return err
			}
			if len(cmd.Args) == 0 {
				continue
			}
			return nil
		}
		n, ok := parseLen(line[1:])
		if !ok || n > maxMultibulk {
			return protoErr("invalid multibulk length")
		}
		if n <= 0 {
			continue
		}
		return r.readMultibulk(n, cmd)
	}
}

func (r *Reader) readMultibulk(n int, cmd *Command) error {
	r.arena = r.arena[:0]
	r.spans = r.spans[:0]
	for i := range n {
		line, err := r.readLine()
		if err != nil {
			return unexpected(err)
		}
		if len(line) == 0 || line[0] != '$' {
			got := "end of line"
			if len(line) > 0 {
				got = strconv.QuoteRune(rune(line[0]))
			}
			return protoErr("expected '$', got %s", got)
		}
		size, ok := parseLen(line[1:])
		if !ok || size < 0 || size > maxProtoBulk {
			return protoErr("invalid bulk length")
		}
		if size > r.lim.maxArg || len(r.arena)+size > r.lim.maxCommand {
			// Skip it on the wire; the handler reports the size.
			if _, err := r.br.Discard(size); err != nil {
				return unexpected(err)
			}
			if err := r.expectCRLF(); err != nil {
				return err
			}
			if cmd.Oversized == 0 {
				cmd.Oversized, cmd.OversizedIndex = size, i
			}
			r.spans = append(r.spans, [2]int{len(r.arena), len(r.arena)})
			continue
		}
		start := len(r.arena)
		if size+2 <= r.br.Buffered() {
			// The common case: the whole argument is buffered already.
			b, _ := r.br.Peek(size + 2)
			if b[size] != '\r' || b[size+1] != '\n' {
				return protoErr("bulk string not terminated by CRLF")
			}
			r.arena = append(r.arena, b[:size]...)
			_, _ = r.br.Discard(size + 2)
			r.spans = append(r.spans, [2]int{start, start + size})
			continue
		}
		r.arena = grow(r.arena, size)
		if _, err := io.ReadFull(r.br, r.arena[start:start+size]); err != nil {
			return unexpected(err)
		}
		if err := r.expectCRLF(); err != nil {
			return err
		}
		r.spans = append(r.spans, [2]int{start, start + size})
	}
	for _, s := range r.spans {
		cmd.Args = append(cmd.Args, r.arena[s[0]:s[1]:s[1]])
	}
	// A huge arena from one big command is not kept for the connection's life.
	if cap(r.arena) > 1<<20 && len(r.arena) < 1<<16 {
		r.arena = nil
	}
	return nil
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, 2*cap(b)+n)
	copy(nb, b)
	return nb
}

func (r *Reader) expectCRLF() error {
	var crlf [2]byte
	if _, err := io.ReadFull(r.br, crlf[:]); err != nil {
		return unexpected(err)
	}
	if crlf != [2]byte{'\r', '\n'} {
		return protoErr("bulk string not terminated by CRLF")
	}
	return nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseLen parses a non-negative or -1 decimal length. It refuses signs other
// than a leading '-', spaces and overflow.
func parseLen(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		return -n, true
	}
	return n, true
}

// parseInline splits an inline command the way redis-cli and telnet users
// expect: words separated by spaces, "double quotes" with \n \r \t \xHH \\
// escapes, and 'single quotes' with \' only.
func (r *Reader) parseInline(line []byte, cmd *Command) error {
	r.arena = append(r.arena[:0], line...)
	r.inline = r.inline[:0]
	b := r.arena
	i := 0
	out := 0 // unquoted bytes are written back into b, never past i
	for {
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i == len(b) {
			break
		}
		start := out
		inDQ, inSQ, done := false, false, false
		for !done {
			switch {
			case inDQ:
				switch {
				case i >= len(b):
					return protoErr("unbalanced quotes in request")
				case b[i] == '\\' && i+3 < len(b) && b[i+1] == 'x' && isHex(b[i+2]) && isHex(b[i+3]):
					b[out] = unhex(b[i+2])<<4 | unhex(b[i+3])
					out++
					i += 4
				case b[i] == '\\' && i+1 < len(b):
					c := b[i+1]
					switch c {
					case 'n':
						c = '\n'
					case 'r':
						c = '\r'
					case 't':
						c = '\t'
					case 'b':
						c = '\b'
					case 'a':
						c = '\a'
					}
					b[out] = c
					out++
					i += 2
				case b[i] == '"':
					if i+1 < len(b) && !isSpace(b[i+1]) {
						return protoErr("unbalanced quotes in request")
					}
					i++
					done = true
				default:
					b[out] = b[i]
					out++
					i++
				}
			case inSQ:
				switch {
				case i >= len(b):
					return protoErr("unbalanced quotes in request")
				case b[i] == '\\' && i+1 < len(b) && b[i+1] == '\'':
					b[out] = '\''
					out++
					i += 2
				case b[i] == '\'':
					if i+1 < len(b) && !isSpace(b[i+1]) {
						return protoErr("unbalanced quotes in request")
					}
					i++
					done = true
				default:
					b[out] = b[i]
					out++
					i++
				}
			default:
				switch {
				case i >= len(b) || isSpace(b[i]):
					done = true
				case b[i] == '"':
					inDQ = true
					i++
				case b[i] == '\'':
					inSQ = true
					i++
				default:
					b[out] = b[i]
					out++
					i++
				}
			}
		}
		r.inline = append(r.inline, b[start:out:out])
	}
	cmd.Args = append(cmd.Args, r.inline...)
	return nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}
func isHex(c byte) bool {
	return bytes.IndexByte([]byte("0123456789abcdefABCDEF"), c) >= 0
}
func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
