package loadgen

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// procSample is a process's CPU time and resident memory at one moment.
type procSample struct {
	at  time.Time
	cpu time.Duration
	rss int64 // bytes
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux port.
const clockTicks = 100

// readProc reads /proc/<pid>/stat (utime + stime) and /proc/<pid>/status (VmRSS).
func readProc(pid int) (procSample, error) {
	s := procSample{at: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	if s.cpu, err = parseStatCPU(string(stat)); err != nil {
		return s, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	s.rss, err = parseStatusRSS(string(status))
	return s, err
}

// parseStatCPU returns utime + stime of a /proc/<pid>/stat line.
func parseStatCPU(stat string) (time.Duration, error) {
	// The command name, field 2, is in parentheses and may hold spaces and parentheses.
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc stat")
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// parseStatusRSS returns VmRSS of a /proc/<pid>/status file, in bytes.
func parseStatusRSS(status string) (int64, error) {
	for line := range strings.Lines(status) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// machineBusy returns the CPU time all processors spent not idle, from /proc/stat.
func machineBusy() (time.Duration, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, errors.New("malformed /proc/stat")
	}
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest times are already in user
			break
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, errors.New("malformed /proc/stat")
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / clockTicks, nil
}

// loadAverage returns the one-minute load average, or "" where /proc/loadavg is missing.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// monitor samples a process's CPU time and memory while the run goes on.
type monitor struct {
	pid     int
	samples []procSample
	err     error
}

// sample reads the process once, keeping the error of a failed read.
func (m *monitor) sample() {
	if s, err := readProc(m.pid); err != nil {
		m.err = err
	} else {
		m.samples = append(m.samples, s)
	}
}

// report summarises the samples over iterations iterations.
func (m *monitor) report(iterations int64) ProcReport {
	r := ProcReport{PID: m.pid}
	if len(m.samples) < 2 {
		return r
	}
	first, last := m.samples[0], m.samples[len(m.samples)-1]
	mib := func(b int64) float64 { return math.Round(float64(b)/(1<<20)*10) / 10 }
	r.CPUSeconds = math.Round((last.cpu-first.cpu).Seconds()*100) / 100
	if iterations > 0 {
		r.CPUPerIterMs = math.Round(float64(last.cpu-first.cpu)/float64(iterations)/1e3) / 1e3
	}
	r.RSSStartMiB, r.RSSEndMiB = mib(first.rss), mib(last.rss)
	var xs, ys []float64
	for i, s := range m.samples {
		r.RSSMaxMiB = max(r.RSSMaxMiB, mib(s.rss))
		r.RSSSamples = append(r.RSSSamples, mib(s.rss))
		// The trend leaves out the first tenth of the run, while pools and caches fill.
		if i >= len(m.samples)/10 {
			xs = append(xs, s.at.Sub(first.at).Minutes())
			ys = append(ys, float64(s.rss)/(1<<20))
		}
	}
	r.RSSSlope = math.Round(slope(xs, ys)*100) / 100
	return r
}
