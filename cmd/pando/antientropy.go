package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

// antiEntropyView is the anti_entropy part of GET /v1/status.
type antiEntropyView struct {
	Rounds     int           `json:"rounds"`
	Interval   time.Duration `json:"interval_ns"`
	Repaired   int64         `json:"records_repaired"`
	Bytes      int64         `json:"bytes_moved"`
	OldestSync time.Time     `json:"oldest_sync"`
	Partitions []struct {
		Partition int       `json:"partition"`
		LastSync  time.Time `json:"last_sync"`
		Repaired  int64     `json:"records_repaired"`
		Bytes     int64     `json:"bytes_moved"`
	} `json:"partitions"`
	RecordsPerSecond float64 `json:"records_per_second"`
	BytesPerSecond   float64 `json:"bytes_per_second"`
}

// printAntiEntropy writes what node's anti-entropy reports: when all its
// partitions were last known in sync, what it repaired, its budget, and
// with perPartition one line per partition.
func printAntiEntropy(out io.Writer, node string, ae *antiEntropyView, perPartition bool) {
	if ae == nil {
		fmt.Fprintf(out, "anti-entropy on %s: off\n\n", node)
		return
	}
	now := time.Now()
	sync := "not yet in sync with every replica"
	if !ae.OldestSync.IsZero() && len(ae.Partitions) > 0 {
		sync = fmt.Sprintf("every partition in sync with its replicas as of %s (%s ago)",
			ae.OldestSync.Local().Format(time.TimeOnly), now.Sub(ae.OldestSync).Round(time.Second))
	}
	fmt.Fprintf(out, "anti-entropy on %s: %s; %d rounds, one every %s; %d records repaired, %s moved; budget %s\n",
		node, sync, ae.Rounds, ae.Interval, ae.Repaired, formatBytes(ae.Bytes), formatBudget(ae.RecordsPerSecond, ae.BytesPerSecond))
	if perPartition {
		fmt.Fprintf(out, "%-10s %-12s %-10s %-10s\n", "PARTITION", "LAST-SYNC", "REPAIRED", "BYTES")
		for _, p := range ae.Partitions {
			last := "never"
			if !p.LastSync.IsZero() {
				last = now.Sub(p.LastSync).Round(time.Second).String() + " ago"
			}
			fmt.Fprintf(out, "%-10d %-12s %-10d %-10s\n", p.Partition, last, p.Repaired, formatBytes(p.Bytes))
		}
	}
	fmt.Fprintln(out)
}

func formatBudget(records, bytes float64) string {
	if records == 0 && bytes == 0 {
		return "unbounded"
	}
	r, b := "any", "any"
	if records > 0 {
		r = strconv.FormatFloat(records, 'f', -1, 64)
	}
	if bytes > 0 {
		b = formatBytes(int64(bytes))
	}
	return r + " records/s, " + b + "/s"
}

// formatBytes writes n in the largest binary unit it reaches, with one
// decimal.
func formatBytes(n int64) string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.mult {
			return strconv.FormatFloat(float64(n)/float64(u.mult), 'f', 1, 64) + " " + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + " B"
}

func newAntiEntropyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "anti-entropy",
		Short: "Tune the background repair that compares hash trees between replicas",
	}
	var records float64
	var bytesPer int64
	var one bool
	budget := &cobra.Command{
		Use:   "budget",
		Short: "Set what anti-entropy may move per second, on every node that answers (0: no bound)",
		Long: "Set what anti-entropy may move per second, records and bytes, on every member of the\n" +
			"cluster that answers (or with --one only on the node --http names). A flag left out keeps\n" +
			"its value. The change holds until the node restarts; set --anti-entropy-records and\n" +
			"--anti-entropy-bytes on `pando server` to keep it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string]float64{}
			if cmd.Flags().Changed("records") {
				body["records_per_second"] = records
			}
			if cmd.Flags().Changed("bytes") {
				body["bytes_per_second"] = float64(bytesPer)
			}
			if len(body) == 0 {
				return fmt.Errorf("nothing to change: give --records, --bytes or both")
			}
			if records < 0 {
				return fmt.Errorf("--records %v: want 0 or more", records)
			}
			data, err := json.Marshal(body)
			if err != nil {
				return err
			}
			targets := []string{httpFlag}
			if !one {
				var st statusView
				if _, _, err := call("GET", "/v1/status", nil, nil, &st); err != nil {
					return err
				}
				targets = targets[:0]
				for _, n := range st.Nodes {
					if n.Member && n.HTTPAddr != "" {
						targets = append(targets, n.HTTPAddr)
					}
				}
			}
			out := cmd.OutOrStdout()
			var failed int
			for _, addr := range targets {
				var ae antiEntropyView
				if _, _, err := callAt(addr, "PUT", "/v1/antientropy", nil, bytes.NewReader(data), &ae); err != nil {
					failed++
					fmt.Fprintf(out, "%s: %v\n", addr, err)
					continue
				}
				fmt.Fprintf(out, "%s: budget %s\n", addr, formatBudget(ae.RecordsPerSecond, ae.BytesPerSecond))
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d nodes did not take the budget", failed, len(targets))
			}
			return nil
		},
	}
	budget.Flags().Float64Var(&records, "records", 0, "records per second (0: no bound)")
	budget.Flags().Var(newSize(&bytesPer, 0), "bytes", "bytes per second, such as 10MiB (0: no bound)")
	budget.Flags().BoolVar(&one, "one", false, "change only the node --http names")
	cmd.AddCommand(budget)
	return cmd
}
