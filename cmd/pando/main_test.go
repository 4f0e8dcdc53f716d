package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"8192": 8192, "8KiB": 8 << 10, "16MiB": 16 << 20, "1GiB": 1 << 30,
		"8kb": 8000, "16MB": 16e6, "2k": 2 << 10, "3m": 3 << 20, " 5 MiB ": 5 << 20, "0": 0, "7b": 7,
	} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "-1", "1.5MiB", "99999999999GiB", "MiB"} {
		if _, err := parseSize(bad); err == nil || !strings.Contains(err.Error(), "not a size") {
			t.Errorf("parseSize(%q): %v, want a clear error", bad, err)
		}
	}
	for n, want := range map[int64]string{8192: "8KiB", 16 << 20: "16MiB", 1000: "1000", 1 << 30: "1GiB"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestEnvName(t *testing.T) {
	if got := envName("max-value-size"); got != "PANDO_MAX_VALUE_SIZE" {
		t.Fatal(got)
	}
}

// TestSettingsLayering checks flag > environment > file > default on a
// command's flag set, without starting a server.
func TestSettingsLayering(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pando.yaml")
	os.WriteFile(file, []byte("resp-addr: 10.0.0.1:1\nhttp-addr: 10.0.0.1:2\ndata-dir: /from/file\nmax-key-size: 1KiB\n"), 0o644)
	var nf nodeFlags
	cmd := &cobra.Command{Use: "server"}
	nf.register(cmd.Flags(), "default-dir")
	t.Setenv("PANDO_HTTP_ADDR", "10.0.0.2:2")
	t.Setenv("PANDO_DATA_DIR", "/from/env")
	if err := cmd.Flags().Parse([]string{"--config", file, "--data-dir", "/from/flag"}); err != nil {
		t.Fatal(err)
	}
	if err := applySettings(cmd); err != nil {
		t.Fatal(err)
	}
	if nf.dataDir != "/from/flag" || nf.httpAddr != "10.0.0.2:2" || nf.respAddr != "10.0.0.1:1" || nf.maxKey != 1024 {
		t.Fatalf("layering: data=%q http=%q resp=%q maxKey=%d", nf.dataDir, nf.httpAddr, nf.respAddr, nf.maxKey)
	}
	if nf.maxValue != 16<<20 {
		t.Fatalf("default lost: max value %d", nf.maxValue)
	}
}

func TestConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"unknown.yaml": "resp-adr: x\n",
		"mapping.yaml": "resp-addr:\n  host: x\n",
		"broken.yaml":  "resp-addr: [\n",
		"badsize.yaml": "max-key-size: huge\n",
	} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(body), 0o644)
		var nf nodeFlags
		cmd := &cobra.Command{Use: "server"}
		nf.register(cmd.Flags(), "d")
		cmd.Flags().Parse([]string{"--config", path})
		err := applySettings(cmd)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: got %v, want an error naming the file", name, err)
		}
	}
	var nf nodeFlags
	cmd := &cobra.Command{Use: "server"}
	nf.register(cmd.Flags(), "d")
	cmd.Flags().Parse([]string{"--config", filepath.Join(dir, "absent.yaml")})
	if err := applySettings(cmd); err == nil || !strings.Contains(err.Error(), "absent.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

// TestHelpGolden keeps the documented command-line reference in sync with
// the code: run with -update after changing a flag, and review the diff.
func TestHelpGolden(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"server", "--help"}, {"dev", "--help"}} {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		name := strings.Join(append([]string{"pando"}, strings.Fields(strings.ReplaceAll(strings.Join(args, " "), "--help", ""))...), "-")
		path := filepath.Join("testdata", name+".golden")
		if *update {
			if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./cmd/pando -update)", err)
		}
		if out.String() != string(want) {
			t.Errorf("%v help changed; run go test ./cmd/pando -update and review.\ngot:\n%s\nwant:\n%s", args, out.String(), want)
		}
	}
}

func TestDevRestartCommandIsShellSafe(t *testing.T) {
	n := &devNode{cmd: &exec.Cmd{Args: []string{"/tmp/go build/pando", "server", "--data-dir", "/data/it's", "--join", "a:1,b:2", ""}}}
	want := `'/tmp/go build/pando' server --data-dir '/data/it'\''s' --join a:1,b:2 ''`
	if got := n.restartCommand(); got != want {
		t.Fatalf("restart command:\n got %s\nwant %s", got, want)
	}
}
