package resp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func readAll(t *testing.T, in string, lim readerLimits) ([][]string, []int, error) {
	t.Helper()
	r := newReader(bufio.NewReaderSize(strings.NewReader(in), 4096), lim)
	var out [][]string
	var over []int
	var cmd Command
	for {
		err := r.ReadCommand(&cmd)
		if err == io.EOF {
			return out, over, nil
		}
		if err != nil {
			return out, over, err
		}
		var args []string
		for _, a := range cmd.Args {
			args = append(args, string(a))
		}
		out = append(out, args)
		over = append(over, cmd.Oversized)
	}
}

var roomy = readerLimits{maxArg: 1 << 20, maxCommand: 4 << 20}

func TestReaderParsesRESPAndInline(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want [][]string
	}{
		{"*1\r\n$4\r\nPING\r\n", [][]string{{"PING"}}},
		{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n", [][]string{{"SET", "k", ""}}},
		{"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n", [][]string{{"GET", "a"}, {"GET", "b"}}},
		{"*0\r\n*-1\r\n\r\nPING\r\n", [][]string{{"PING"}}},
		{"set k \"a b\\x41\\n\"\r\n", [][]string{{"set", "k", "a bA\n"}}},
		{"set k 'it\\'s'\n", [][]string{{"set", "k", "it's"}}},
		{"  get   spaced  \r\n", [][]string{{"get", "spaced"}}},
		{"set k \"\"\r\n", [][]string{{"set", "k", ""}}},
	} {
		got, _, err := readAll(t, tc.in, roomy)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if !equal(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func equal(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if strings.Join(a[i], "\x00") != strings.Join(b[i], "\x00") || len(a[i]) != len(b[i]) {
			return false
		}
	}
	return true
}

func TestReaderRefusesMalformed(t *testing.T) {
	for _, in := range []string{
		"*x\r\n",
		"*2\r\n$3\r\nGET\r\n:1\r\n",
		"*1\r\n$-5\r\n",
		"*1\r\n$999999999999\r\n",
		"*1\r\n$3\r\nGETXX",
		"*2000000\r\n",
		"set k \"unterminated\r\n",
		"set k \"a\"b\r\n",
	} {
		_, _, err := readAll(t, in, roomy)
		var pe *ProtocolError
		if !errors.As(err, &pe) {
			t.Errorf("%q: got %v, want a protocol error", in, err)
		}
	}
}

func TestReaderTruncatedStream(t *testing.T) {
	_, _, err := readAll(t, "*2\r\n$3\r\nGET\r\n$5\r\nab", roomy)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want unexpected EOF", err)
	}
}

// TestReaderSkipsOversizedBulk checks that a bulk larger than the limit is
// consumed from the stream without being held, is reported, and leaves the
// stream at the next command.
func TestReaderSkipsOversizedBulk(t *testing.T) {
	big := strings.Repeat("v", 10000)
	in := "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10000\r\n" + big + "\r\n*1\r\n$4\r\nPING\r\n"
	lim := readerLimits{maxArg: 1000, maxCommand: 2000}
	got, over, err := readAll(t, in, lim)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1][0] != "PING" {
		t.Fatalf("stream not resynchronised after the skipped bulk: %q", got)
	}
	if over[0] != 10000 || got[0][2] != "" {
		t.Fatalf("oversized bulk not reported: over=%v args=%q", over, got[0][0:2])
	}
	r := newReader(bufio.NewReaderSize(strings.NewReader(in), 4096), lim)
	var cmd Command
	if err := r.ReadCommand(&cmd); err != nil {
		t.Fatal(err)
	}
	if cap(r.arena) >= 10000 {
		t.Fatalf("reader buffered %d bytes for a skipped bulk", cap(r.arena))
	}
}

func TestReaderCommandBudget(t *testing.T) {
	// Each argument fits, but together they exceed maxCommand.
	var b bytes.Buffer
	b.WriteString("*4\r\n$4\r\nMSET\r\n")
	for range 3 {
		b.WriteString("$600\r\n" + strings.Repeat("x", 600) + "\r\n")
	}
	_, over, err := readAll(t, b.String(), readerLimits{maxArg: 1000, maxCommand: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if over[0] != 600 {
		t.Fatalf("command over budget not reported: %v", over)
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("*2\r\n$3\r\nGET\r\n$1\r\na\r\n"))
	f.Add([]byte("set k \"v\\x00\"\r\nPING\r\n"))
	f.Add([]byte("*1\r\n$100\r\nabc\r\n"))
	f.Add([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$40\r\n0123456789012345678901234567890123456789\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		lim := readerLimits{maxArg: 32, maxCommand: 64}
		r := newReader(bufio.NewReaderSize(bytes.NewReader(in), 64), lim) // bufio rounds sizes below 16 up
		var cmd Command
		for range 1000 {
			err := r.ReadCommand(&cmd)
			if err != nil {
				var pe *ProtocolError
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.As(err, &pe) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			if len(cmd.Args) == 0 {
				t.Fatal("empty command returned")
			}
			// Inline commands are bounded by the line buffer instead.
			const lineBuf = 64
			total := 0
			for _, a := range cmd.Args {
				if len(a) > max(lim.maxArg, lineBuf) {
					t.Fatalf("argument of %d bytes held, limit %d", len(a), lim.maxArg)
				}
				total += len(a)
			}
			if total > max(lim.maxCommand, lineBuf) {
				t.Fatalf("command of %d bytes held, limit %d", total, lim.maxCommand)
			}
		}
	})
}
