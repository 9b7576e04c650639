package loadgen

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"text/tabwriter"
	"time"
)

// recorder collects one worker's latencies and errors; merged at the end.
type recorder struct {
	steps     map[string][]time.Duration
	scenarios map[string][]time.Duration
	errors    map[string]int
}

func newRecorder() *recorder {
	return &recorder{steps: map[string][]time.Duration{}, scenarios: map[string][]time.Duration{}, errors: map[string]int{}}
}

func (r *recorder) step(name string, d time.Duration) {
	if r != nil {
		r.steps[name] = append(r.steps[name], d)
	}
}

func (r *recorder) merge(o *recorder) {
	for k, v := range o.steps {
		r.steps[k] = append(r.steps[k], v...)
	}
	for k, v := range o.scenarios {
		r.scenarios[k] = append(r.scenarios[k], v...)
	}
	for k, v := range o.errors {
		r.errors[k] += v
	}
}

// Latency summarises one step's or scenario's latencies, in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	Rate  float64 `json:"perSecond"`
	P50   float64 `json:"p50Ms"`
	P90   float64 `json:"p90Ms"`
	P99   float64 `json:"p99Ms"`
	Max   float64 `json:"maxMs"`
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// summarize returns the count, rate over elapsed and percentiles of samples, which it leaves
// in their order.
func summarize(samples []time.Duration, elapsed time.Duration) Latency {
	s := slices.Clone(samples)
	slices.Sort(s)
	msOf := func(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
	l := Latency{Count: len(s), P50: msOf(percentile(s, 50)), P90: msOf(percentile(s, 90)), P99: msOf(percentile(s, 99))}
	if len(s) > 0 {
		l.Max = msOf(s[len(s)-1])
	}
	if elapsed > 0 {
		l.Rate = math.Round(float64(len(s))/elapsed.Seconds()*10) / 10
	}
	return l
}

// slope returns the least-squares slope of ys over xs (0 for fewer than two points).
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if len(xs) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// Report is the result of a run; its JSON form is what `latchkey bench --json` prints.
type Report struct {
	Scenario       string             `json:"scenario"`
	Workers        int                `json:"workers"`
	Users          int                `json:"users"`
	ElapsedSeconds float64            `json:"elapsedSeconds"`
	Iterations     int64              `json:"iterations"`
	Throughput     float64            `json:"iterationsPerSecond"`
	Errors         int64              `json:"errors"`
	Scenarios      map[string]Latency `json:"scenarios"`
	Steps          map[string]Latency `json:"steps"`
	ErrorsByType   map[string]int     `json:"errorsByType"`
	Client         ProcReport         `json:"loadGenerator"`
	Machine        *MachineReport     `json:"machine,omitempty"`
	Broker         *ProcReport        `json:"broker,omitempty"`
	Database       *DatabaseReport    `json:"database,omitempty"`
}

// DatabaseReport is the CPU time PostgreSQL spent over the run: in the backends serving one
// database (their process titles name it), and in all its processes, which includes the
// background writers and every other database of the cluster.
type DatabaseReport struct {
	Database        string  `json:"database"`
	Backends        int     `json:"backendsSeen"`
	CPUSeconds      float64 `json:"backendCPUSeconds"`
	CPUPerIterMs    float64 `json:"backendCPUMsPerIteration"`
	AllCPUSeconds   float64 `json:"allPostgresCPUSeconds"`
	AllCPUPerIterMs float64 `json:"allPostgresCPUMsPerIteration"`
}

// ProcReport is the CPU and memory of one process over the run.
type ProcReport struct {
	PID          int       `json:"pid"`
	CPUSeconds   float64   `json:"cpuSeconds"`
	CPUPerIterMs float64   `json:"cpuMsPerIteration"`
	RSSStartMiB  float64   `json:"rssStartMiB,omitempty"`
	RSSEndMiB    float64   `json:"rssEndMiB,omitempty"`
	RSSMaxMiB    float64   `json:"rssMaxMiB,omitempty"`
	RSSSlope     float64   `json:"rssSlopeMiBPerMinute"`
	RSSSamples   []float64 `json:"rssSamplesMiB,omitempty"`
}

// MachineReport is the CPU time of every process over the run, and the load average
// (/proc/loadavg, one minute) before and after it: other work on the machine skews a run.
type MachineReport struct {
	BusySeconds   float64 `json:"busyCPUSeconds"`
	BusyPerIterMs float64 `json:"busyCPUMsPerIteration"`
	Cores         int     `json:"cores"`
	LoadBefore    string  `json:"loadAverageBefore"`
	LoadAfter     string  `json:"loadAverageAfter"`
}

// printReport writes the human-readable report.
func printReport(w io.Writer, r Report) {
	fmt.Fprintf(w, "scenario %s, %d workers, %d users: %d iterations in %.2fs = %.1f/s, %d errors\n\n",
		r.Scenario, r.Workers, r.Users, r.Iterations, r.ElapsedSeconds, r.Throughput, r.Errors)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	table := func(title string, order []string, m map[string]Latency) {
		fmt.Fprintf(tw, "%s\tcount\tper s\tp50 ms\tp90 ms\tp99 ms\tmax ms\t\n", title)
		for _, k := range order {
			if l, ok := m[k]; ok {
				fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", k, l.Count, l.Rate, l.P50, l.P90, l.P99, l.Max)
			}
		}
		fmt.Fprintln(tw, "\t\t\t\t\t\t\t")
	}
	table("scenario", scenarioOrder, r.Scenarios)
	table("step", stepOrder, r.Steps)
	tw.Flush()
	if len(r.ErrorsByType) == 0 {
		fmt.Fprintln(w, "errors: none")
	} else {
		fmt.Fprintln(w, "errors by type:")
		for _, k := range slices.Sorted(maps.Keys(r.ErrorsByType)) {
			fmt.Fprintf(w, "  %6d  %s\n", r.ErrorsByType[k], k)
		}
	}
	if b := r.Broker; b != nil {
		fmt.Fprintf(w, "broker (pid %d): CPU %.2fs = %.3f ms per iteration; RSS start %.1f MiB, max %.1f MiB, end %.1f MiB, trend %+.2f MiB/min\n",
			b.PID, b.CPUSeconds, b.CPUPerIterMs, b.RSSStartMiB, b.RSSMaxMiB, b.RSSEndMiB, b.RSSSlope)
	}
	if d := r.Database; d != nil {
		fmt.Fprintf(w, "postgres (database %s, %d backends): CPU %.2fs = %.3f ms per iteration; all postgres processes %.2fs = %.3f ms per iteration\n",
			d.Database, d.Backends, d.CPUSeconds, d.CPUPerIterMs, d.AllCPUSeconds, d.AllCPUPerIterMs)
	}
	fmt.Fprintf(w, "load generator: CPU %.2fs = %.3f ms per iteration\n", r.Client.CPUSeconds, r.Client.CPUPerIterMs)
	if m := r.Machine; m != nil {
		fmt.Fprintf(w, "machine (%d cores, every process): CPU %.2fs = %.3f ms per iteration; load average %s before, %s after\n",
			m.Cores, m.BusySeconds, m.BusyPerIterMs, m.LoadBefore, m.LoadAfter)
	}
}
