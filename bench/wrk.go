package main

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

//go:embed lua/*.lua
var luaScripts embed.FS

// wrkLoad is one wrk run: a script of lua/ against nodes.
type wrkLoad struct {
	script  string   // resolve or invites
	nodes   []string // host:port; wrk's threads are spread over them
	key     string
	conns   int
	threads int // 0: one per node, at least 2
	d       time.Duration
	env     []string // extra BENCH_* variables for the script
	pids    []int    // processes whose RSS is sampled
	// backends, when not nil, lists the database server's processes
	// serving the bench's database, whose CPU time is read too.
	backends func() []int
}

// writeScript writes lua/common.lua followed by lua/<name>.lua into dir and
// returns the file's path.
func writeScript(dir, name string) (string, error) {
	common, err := luaScripts.ReadFile("lua/common.lua")
	if err != nil {
		return "", err
	}
	own, err := luaScripts.ReadFile("lua/" + name + ".lua")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name+".lua")
	return path, os.WriteFile(path, append(append(common, '\n'), own...), 0o600)
}

// runWrk drives l with wrk and returns what its script printed, with the
// largest RSS (summed over l.pids) sampled every 100 ms.
func runWrk(ctx context.Context, dir string, l wrkLoad) (stats, error) {
	script, err := writeScript(dir, l.script)
	if err != nil {
		return stats{}, err
	}
	threads := l.threads
	if threads == 0 {
		threads = len(l.nodes)
	}
	args := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(l.conns), "-d", l.d.String(),
		"--timeout", "10s", "-s", script, "http://" + l.nodes[0]}
	cmd := exec.CommandContext(ctx, "wrk", args...)
	cmd.Env = append(os.Environ(), append(l.env, "BENCH_NODES="+strings.Join(l.nodes, ","), "BENCH_KEY="+l.key)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut

	var maxRSS atomic.Int64
	sampling, stop := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for sampling.Err() == nil {
			var sum int64
			for _, pid := range l.pids {
				sum += readRSS(pid)
			}
			if sum > maxRSS.Load() {
				maxRSS.Store(sum)
			}
			select {
			case <-sampling.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	var db0 map[int]time.Duration
	if l.backends != nil {
		db0 = cpuTimes(l.backends())
	}
	cpu0 := cpuTime(l.pids)
	err = cmd.Run()
	cpu := cpuTime(l.pids) - cpu0
	var db time.Duration
	if l.backends != nil {
		// Backends that ended during the run are lost; those that began
		// count whole.
		for pid, t := range cpuTimes(l.backends()) {
			db += t - db0[pid]
		}
	}
	stop()
	<-sampled
	if err != nil {
		return stats{}, fmt.Errorf("wrk: %w: %s", err, errOut.String())
	}
	s, err := parseWrk(out.String())
	s.maxRSS = float64(maxRSS.Load())
	if s.requests > 0 {
		s.cpuPerReq = cpu / time.Duration(s.requests)
		s.dbCPUPerReq = db / time.Duration(s.requests)
	}
	return s, err
}

// cpuTime returns the CPU time (user and system) the processes used so
// far.
func cpuTime(pids []int) time.Duration {
	var sum time.Duration
	for _, t := range cpuTimes(pids) {
		sum += t
	}
	return sum
}

// cpuTimes returns the CPU time of each process that still runs, from
// /proc/<pid>/stat.
func cpuTimes(pids []int) map[int]time.Duration {
	out := make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The fields after the command name (in parentheses): utime and
		// stime are the 12th and 13th.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			out[pid] = time.Duration(u+s) * (time.Second / 100) // USER_HZ is 100 on Linux
		}
	}
	return out
}

// parseWrk reads the line lua/common.lua's done() prints.
func parseWrk(out string) (stats, error) {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 7 || f[0] != "WRK" {
			continue
		}
		var n [6]int64
		for i := range n {
			v, err := strconv.ParseInt(f[i+1], 10, 64)
			if err != nil {
				return stats{}, fmt.Errorf("wrk printed %q", line)
			}
			n[i] = v
		}
		if n[0] == 0 || n[1] == 0 {
			return stats{}, fmt.Errorf("wrk completed no request: %q", line)
		}
		return stats{
			rps: float64(n[0]) / (float64(n[1]) / 1e6), p50: time.Duration(n[2]) * time.Microsecond,
			p99: time.Duration(n[3]) * time.Microsecond, errors: n[4] + n[5], requests: n[0],
		}, nil
	}
	return stats{}, fmt.Errorf("no result line in wrk's output: %q", out)
}
