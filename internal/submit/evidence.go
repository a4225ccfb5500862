package submit

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spamrun/spamrun"
)

// ProcessEvidence records who submitted a message: the working directory
// and command line of process pid or, when pid is a shell, of the first
// ancestor that is not one, since PHP and cron start sendmail through
// "sh -c". The site controls both, so they are evidence only. uid is the
// UID the kernel reported for the submission.
func ProcessEvidence(pid, uid int) spamrun.Evidence {
	ev := spamrun.Evidence{UID: uid}
	if pid <= 0 {
		return ev
	}
	for range 4 {
		comm, parent := procStat(pid)
		if !shells[comm] || parent <= 1 {
			break
		}
		pid = parent
	}
	proc := "/proc/" + strconv.Itoa(pid)
	if cwd, err := os.Readlink(proc + "/cwd"); err == nil {
		ev.Cwd = cwd
	}
	if cmd, err := readAtMost(proc+"/cmdline", maxEvidenceCommand); err == nil {
		for _, arg := range strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00") {
			ev.Command = append(ev.Command, strings.ToValidUTF8(arg, "\uFFFD"))
		}
	}
	return ev
}

// ParentEvidence is ProcessEvidence for the parent of process pid: what
// sendmail records of its caller when pid is a sendmail that handed its
// message on.
func ParentEvidence(pid, uid int) spamrun.Evidence {
	_, parent := procStat(pid)
	return ProcessEvidence(parent, uid)
}

// maxEvidenceCommand bounds the caller's command line kept as evidence: a
// script's own argv can be as large as the kernel allows, and evidence must
// never be what pushes an ordinary message over the spool's header limit.
const maxEvidenceCommand = 4 << 10

// readAtMost reads the first n bytes of a file.
func readAtMost(name string, n int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n))
}

var shells = map[string]bool{"sh": true, "dash": true, "bash": true, "busybox": true}

// procStat returns the command name and parent PID of a process, from
// /proc/PID/stat: "PID (comm) state PPID ...", where comm may itself hold
// spaces and parentheses.
func procStat(pid int) (comm string, ppid int) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0
	}
	open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return "", 0
	}
	fields := strings.Fields(string(stat[end+1:]))
	if len(fields) < 2 {
		return "", 0
	}
	ppid, _ = strconv.Atoi(fields[1])
	return string(stat[open+1 : end]), ppid
}
