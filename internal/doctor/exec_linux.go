package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// probeProgram returns a copy of the running program in memory, which
// any user may execute: the program itself may be root's alone, as
// spamrun's operator command is (root:spamrun, 0750), and its directory
// may be closed to websites.
func probeProgram() (*os.File, error) {
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("doctor: reading the program to run as the probe: %w", err)
	}
	defer self.Close()
	fd, err := unix.MemfdCreate("spamrun-doctor-probe", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("doctor: memfd_create for the probe: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "spamrun-doctor-probe")
	if _, err := io.Copy(mem, self); err != nil {
		mem.Close()
		return nil, fmt.Errorf("doctor: copying the program for the probe: %w", err)
	}
	// Sealed, the copy cannot change under the probes that run it.
	if _, err := unix.FcntlInt(mem.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE); err != nil {
		mem.Close()
		return nil, fmt.Errorf("doctor: sealing the probe's program: %w", err)
	}
	// A file open for writing cannot be executed (ETXTBSY) on many
	// kernels: the probes get it read-only.
	defer mem.Close()
	ro, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", mem.Fd()))
	if err != nil {
		return nil, fmt.Errorf("doctor: reopening the probe's program: %w", err)
	}
	return ro, nil
}

// probeAs runs the probe as u on the plan and returns what it saw, one
// observation per door in the plan's order.
func probeAs(ctx context.Context, prog *os.File, u User, p plan) ([]observation, error) {
	in, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	doors := len(p.Binaries) + len(p.Droppers) + len(p.SMTP)
	// Each door takes at most twice the timeout, and the doors are tried
	// at once; the rest is the program starting.
	ctx, cancel := context.WithTimeout(ctx, 3*p.Timeout+10*time.Second)
	defer cancel()
	// The copy is the probe's file descriptor 3, which it executes through
	// its own /proc/self/fd: no file that a website could replace is run.
	cmd := exec.CommandContext(ctx, "/proc/self/fd/3", ProbeArg)
	cmd.Args[0] = "spamrun-doctor-probe"
	cmd.ExtraFiles = []*os.File{prog}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// An empty Groups clears the supplementary groups.
		Credential: &syscall.Credential{Uid: uint32(u.UID), Gid: uint32(u.GID), Groups: []uint32{}},
		Pdeathsig:  syscall.SIGKILL,
	}
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	cmd.Stdin = bytes.NewReader(in)
	var stdout bytes.Buffer
	var stderr headBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("the probe: %v: %s", err, printable(stderr.String()))
	}
	var obs []observation
	if err := json.Unmarshal(stdout.Bytes(), &obs); err != nil {
		return nil, fmt.Errorf("the probe answered %q: %w", printable(stdout.String()), err)
	}
	if len(obs) != doors {
		return nil, fmt.Errorf("the probe answered for %d doors, not %d", len(obs), doors)
	}
	for i, o := range obs {
		if want := doorName(p, i); o.Door != want {
			return nil, fmt.Errorf("the probe answered for %s where %s was due", o.Door, want)
		}
	}
	return obs, nil
}

// doorName is the name of the i-th door of a plan.
func doorName(p plan, i int) string {
	if i < len(p.Binaries) {
		return p.Binaries[i]
	}
	i -= len(p.Binaries)
	if i < len(p.Droppers) {
		return p.Droppers[i]
	}
	return p.SMTP[i-len(p.Droppers)].Addr
}
