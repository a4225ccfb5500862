package handoff

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRequestRoundTrip(t *testing.T) {
	for _, argv := range [][]string{
		{"/usr/sbin/sendmail", "-t", "-i"},
		{"sendmail", "-f", "", "a@example.org", "Bo <b@example.net>, c@example.com"},
		{"mailq"},
		{"sendmail", strings.Repeat("x", 100000), "用户@例子.广告"},
	} {
		req, err := EncodeRequest(argv)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ReadRequest(bytes.NewReader(req))
		if err != nil {
			t.Fatalf("%q: %v", argv, err)
		}
		if !slices.Equal(got, argv) {
			t.Errorf("read %q, sent %q", got, argv)
		}
	}
}

func TestBadRequests(t *testing.T) {
	good, _ := EncodeRequest([]string{"sendmail", "-t"})
	huge := []byte(magic + "\x7f\xff\xff\xff")
	long := append([]byte(magic+"\x00\x00\x00\x01"), "\x7f\xff\xff\xff"...)
	for name, req := range map[string][]byte{
		"empty":              nil,
		"not a request":      []byte("EHLO web1.example.net\r\n"),
		"cut short":          good[:len(good)-1],
		"too many arguments": huge,
		"too long":           long,
	} {
		if argv, err := ReadRequest(bytes.NewReader(req)); err == nil {
			t.Errorf("%s: read %q, want an error", name, argv)
		}
	}
	if _, err := EncodeRequest(make([]string, MaxArgs+1)); err == nil {
		t.Error("EncodeRequest took more than MaxArgs arguments")
	}
	if _, err := EncodeRequest([]string{strings.Repeat("x", MaxArgsBytes+1)}); err == nil {
		t.Error("EncodeRequest took more than MaxArgsBytes")
	}
}

// daemon serves one connection on a fresh socket with serve.
func daemon(t *testing.T, serve func(c *net.UnixConn)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sendmail.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		c, err := l.AcceptUnix()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		serve(c)
	}()
	return path
}

// stdinPipe returns the read end of a pipe holding msg, closed for
// writing, as a sendmail's standard input is.
func stdinPipe(t *testing.T, msg string) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if _, err := io.WriteString(w, msg); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return r
}

func TestSubmit(t *testing.T) {
	const msg = "To: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n"
	argv := []string{"sendmail", "-t", "-i"}
	var gotArgv []string
	var gotMsg []byte
	path := daemon(t, func(c *net.UnixConn) {
		var err error
		if gotArgv, err = ReadRequest(c); err != nil {
			t.Error(err)
			return
		}
		c.Write([]byte{Go})
		buf, oob := make([]byte, 1), make([]byte, syscall.CmsgSpace(4))
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil || !IsStdinMessage(buf[:n]) {
			t.Errorf("the standard input message: %q, %v", buf[:n], err)
			return
		}
		msgs, _ := syscall.ParseSocketControlMessage(oob[:oobn])
		fds, err := syscall.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			t.Errorf("descriptors %v, %v", fds, err)
			return
		}
		f := os.NewFile(uintptr(fds[0]), "stdin")
		gotMsg, _ = io.ReadAll(f)
		f.Close()
		c.Write(EncodeAnswer(69, "sendmail: mail from website \"shop1\" is disabled\n"))
	})
	code, text, err := Submit(path, argv, int(stdinPipe(t, msg).Fd()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code != 69 || text != "sendmail: mail from website \"shop1\" is disabled\n" {
		t.Errorf("answer %d %q", code, text)
	}
	if !slices.Equal(gotArgv, argv) || string(gotMsg) != msg {
		t.Errorf("the daemon got %q and %q", gotArgv, gotMsg)
	}
}

// A front falls back, its standard input unread, whenever the daemon does
// not take the message.
func TestSubmitFallsBack(t *testing.T) {
	const msg = "To: a@example.org\r\n\r\nhello\r\n"
	argv := []string{"sendmail", "-t"}
	hung := filepath.Join(t.TempDir(), "hung.sock")
	l, err := net.Listen("unix", hung) // never accepts: the kernel queues the connection
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	notASocket := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notASocket, nil, 0o600)
	for name, path := range map[string]string{
		"no socket":    filepath.Join(t.TempDir(), "none.sock"),
		"not a socket": notASocket,
		"hung daemon":  hung,
		"refused": daemon(t, func(c *net.UnixConn) {
			ReadRequest(c)
			c.Write([]byte{FallBack})
		}),
		"closed": daemon(t, func(c *net.UnixConn) {}),
		"slow": daemon(t, func(c *net.UnixConn) {
			ReadRequest(c)
			time.Sleep(300 * time.Millisecond)
			c.Write([]byte{Go})
		}),
	} {
		stdin := stdinPipe(t, msg)
		_, _, err := Submit(path, argv, int(stdin.Fd()), 50*time.Millisecond)
		if !errors.Is(err, ErrFallBack) {
			t.Errorf("%s: %v, want ErrFallBack", name, err)
			continue
		}
		if rest, _ := io.ReadAll(stdin); string(rest) != msg {
			t.Errorf("%s: standard input holds %q after falling back, want all of %q", name, rest, msg)
		}
	}
}

// Once the daemon holds the standard input, a daemon that dies is a
// temporary failure, never a second submission.
func TestSubmitDaemonDies(t *testing.T) {
	path := daemon(t, func(c *net.UnixConn) {
		ReadRequest(c)
		c.Write([]byte{Go})
		buf, oob := make([]byte, 1), make([]byte, syscall.CmsgSpace(4))
		_, oobn, _, _, _ := c.ReadMsgUnix(buf, oob)
		if msgs, err := syscall.ParseSocketControlMessage(oob[:oobn]); err == nil && len(msgs) == 1 {
			if fds, err := syscall.ParseUnixRights(&msgs[0]); err == nil {
				for _, fd := range fds {
					syscall.Close(fd)
				}
			}
		}
	})
	code, _, err := Submit(path, []string{"sendmail", "-t"}, int(stdinPipe(t, "To: a@example.org\r\n\r\nx\r\n").Fd()), time.Second)
	if err == nil || errors.Is(err, ErrFallBack) || code != 75 {
		t.Errorf("Submit: %d, %v; want 75 and an error that is not ErrFallBack", code, err)
	}
}

func TestAnswerLimit(t *testing.T) {
	b := EncodeAnswer(0, strings.Repeat("x", maxText+10))
	if len(b) != 6+maxText {
		t.Errorf("answer of %d bytes, want %d", len(b), 6+maxText)
	}
}
