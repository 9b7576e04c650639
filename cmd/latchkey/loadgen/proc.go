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

// pgMonitor sums the CPU time of PostgreSQL's processes (comm "postgres") from /proc: all of
// them, and the backends serving one database, which it knows by their process titles
// ("postgres: [cluster: ]user database host(port) state"). A process that starts after the
// first sample counts from zero; one that exits counts up to its last sample, so sample it
// often.
type pgMonitor struct {
	database    string
	first, last map[int]time.Duration
	backend     map[int]bool
}

// sample reads every postgres process once. It fails when /proc cannot be listed, or when
// the first sample finds no postgres process.
func (m *pgMonitor) sample() error {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	initial := m.first == nil
	if initial {
		m.first, m.last, m.backend = map[int]time.Duration{}, map[int]time.Duration{}, map[int]bool{}
	}
	found := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // exited meanwhile
		}
		cpu, err := parseStatCPU(string(stat))
		if err != nil {
			continue
		}
		found++
		if _, ok := m.first[pid]; !ok {
			if initial {
				m.first[pid] = cpu
			} else {
				m.first[pid] = 0
			}
		}
		m.last[pid] = cpu
		if !m.backend[pid] { // a new backend's title is set once it has authenticated
			if title, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
				m.backend[pid] = backendOf(string(title), m.database)
			}
		}
	}
	if initial && found == 0 {
		return errors.New("no postgres process on this machine")
	}
	return nil
}

// backendOf reports whether a postgres process title is a backend serving database.
func backendOf(title, database string) bool {
	f := strings.Fields(strings.ReplaceAll(title, "\x00", " "))
	for i, s := range f {
		if i >= 3 && (strings.HasSuffix(s, ")") && strings.Contains(s, "(") || s == "[local]") {
			return f[i-1] == database
		}
	}
	return false
}

// report summarises the samples over iterations iterations.
func (m *pgMonitor) report(iterations int64) DatabaseReport {
	r := DatabaseReport{Database: m.database}
	var all, backends time.Duration
	for pid, last := range m.last {
		d := last - m.first[pid]
		all += d
		if m.backend[pid] {
			backends += d
			r.Backends++
		}
	}
	r.CPUSeconds = math.Round(backends.Seconds()*100) / 100
	r.AllCPUSeconds = math.Round(all.Seconds()*100) / 100
	if iterations > 0 {
		r.CPUPerIterMs = math.Round(float64(backends)/float64(iterations)/1e3) / 1e3
		r.AllCPUPerIterMs = math.Round(float64(all)/float64(iterations)/1e3) / 1e3
	}
	return r
}
