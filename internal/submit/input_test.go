package submit

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spamrun/spamrun"
)

func TestReadMessage(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		dotEnds  bool
		want     string
	}{
		{"LF becomes CRLF", "Subject: x\n\nbody\n", false, "Subject: x\r\n\r\nbody\r\n"},
		{"CRLF stays", "Subject: x\r\n\r\nbody\r\n", false, "Subject: x\r\n\r\nbody\r\n"},
		{"mixed", "A: 1\r\nB: 2\n\nx\r\ny\n", false, "A: 1\r\nB: 2\r\n\r\nx\r\ny\r\n"},
		{"last line without newline", "Subject: x\n\nbody", false, "Subject: x\r\n\r\nbody\r\n"},
		{"dot ends input without -i", "Subject: x\n\nbody\n.\nafter\n", true, "Subject: x\r\n\r\nbody\r\n"},
		{"dot with CRLF ends input", "Subject: x\r\n\r\nbody\r\n.\r\nafter\r\n", true, "Subject: x\r\n\r\nbody\r\n"},
		{"dot is data with -i", "Subject: x\n\nbody\n.\nafter\n", false, "Subject: x\r\n\r\nbody\r\n.\r\nafter\r\n"},
		{"dot-dot is data", "Subject: x\n\n..\n", true, "Subject: x\r\n\r\n..\r\n"},
		{"mbox From line dropped", "From www-data Mon Nov  2 09:00:00 2026\nSubject: x\n\nb\n", false, "Subject: x\r\n\r\nb\r\n"},
		{"From: header kept", "From: a@b.example\nSubject: x\n\nb\n", false, "From: a@b.example\r\nSubject: x\r\n\r\nb\r\n"},
		{"8-bit and NUL bytes kept", "Subject: caf\xe9\n\n\x00\xff\n", false, "Subject: caf\xe9\r\n\r\n\x00\xff\r\n"},
		{"empty input", "", false, ""},
		{"CR-only line endings become CRLF", "To: a@b.example\rSubject: x\r\rbody\rmore\r", false, "To: a@b.example\r\nSubject: x\r\n\r\nbody\r\nmore\r\n"},
		{"CR-only without the last CR", "Subject: x\r\rbody", false, "Subject: x\r\n\r\nbody\r\n"},
		{"CR-only with a dot line", "Subject: x\r\rbody\r.\rafter\r", true, "Subject: x\r\n\r\nbody\r\n"},
		{"CR-only with an mbox From line", "From www-data Mon Nov  2 09:00:00 2026\rSubject: x\r\rb\r", false, "Subject: x\r\n\r\nb\r\n"},
		{"bare CRs inside LF lines stay", "Subject: x\n\nprogress 10%\rprogress 20%\n\rx\n", false, "Subject: x\r\n\r\nprogress 10%\rprogress 20%\r\n\rx\r\n"},
		{"bare CRs inside CRLF lines stay", "Subject: x\r\n\r\na\rb\r\n", false, "Subject: x\r\n\r\na\rb\r\n"},
		{"bare CRs before the only LF stay", "Subject: a\rb\nc", false, "Subject: a\rb\r\nc\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadMessage(strings.NewReader(tc.in), tc.dotEnds, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestReadMessageLimit(t *testing.T) {
	in := "Subject: x\n\n" + strings.Repeat("0123456789\n", 1000)
	var big *TooBigError
	if _, err := ReadMessage(strings.NewReader(in), false, 5000); !errors.As(err, &big) {
		t.Errorf("over the limit: %v", err)
	}
	long := "Subject: x\n\n" + strings.Repeat("x", 200<<10) + "\n"
	got, err := ReadMessage(strings.NewReader(long), false, 1<<20)
	if err != nil || len(got) != len(long)+3 { // three LFs became CRLF
		t.Errorf("a 200 KiB line: %d bytes, %v", len(got), err)
	}
	if _, err := ReadMessage(strings.NewReader(long), false, 100<<10); !errors.As(err, &big) {
		t.Errorf("a long line over the limit: %v", err)
	}
	// A line longer than the read buffer keeps its CRLF whole and its
	// last character, wherever the buffer splits it.
	for _, n := range []int{64<<10 - 1, 64 << 10, 64<<10 + 1, 128<<10 - 1} {
		for _, tail := range []string{"\r\n", "\n", ".\n", ".\r\n"} {
			in := "Subject: x\r\n\r\n" + strings.Repeat("x", n) + tail + "end\r\n"
			got, err := ReadMessage(strings.NewReader(in), true, 1<<20)
			want := "Subject: x\r\n\r\n" + strings.Repeat("x", n) + strings.TrimSuffix(strings.TrimSuffix(tail, "\n"), "\r") + "\r\nend\r\n"
			if err != nil || string(got) != want {
				t.Errorf("line of %d + %q: %d bytes, want %d, %v", n, tail, len(got), len(want), err)
			}
		}
	}
}

var now = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func TestPrepare(t *testing.T) {
	in := "To: Ann <ann@example.org>, bob@example.net\r\n" +
		"Cc: carl@example.com\r\n" +
		"Bcc: secret@example.org,\r\n hidden@example.net\r\n" +
		"Subject: Order 1001\r\n" +
		"\r\n" +
		"Bcc: this is body text\r\n"
	p, err := prepare([]byte(in), true, "shop@shop1.example", "Shop One", "web1.example.net", "ID1", 1001, now)
	if err != nil {
		t.Fatal(err)
	}
	wantRcpts := []string{"ann@example.org", "bob@example.net", "carl@example.com", "secret@example.org", "hidden@example.net"}
	if !slices.Equal(p.recipients, wantRcpts) {
		t.Errorf("recipients %q", p.recipients)
	}
	want := "Received: by web1.example.net (spamrun, from userid 1001)\r\n\tid ID1; Mon, 02 Nov 2026 09:00:00 +0000\r\n" +
		"To: Ann <ann@example.org>, bob@example.net\r\n" +
		"Cc: carl@example.com\r\n" +
		"Subject: Order 1001\r\n" +
		"From: \"Shop One\" <shop@shop1.example>\r\n" +
		"Date: Mon, 02 Nov 2026 09:00:00 +0000\r\n" +
		"Message-ID: <ID1@web1.example.net>\r\n" +
		"\r\n" +
		"Bcc: this is body text\r\n"
	if string(p.data) != want {
		t.Errorf("got\n%s\nwant\n%s", p.data, want)
	}
}

func TestPrepareResentAndExisting(t *testing.T) {
	in := "From: a@shop1.example\r\nDate: Sun, 1 Nov 2026 10:00:00 +0000\r\nMessage-ID: <x@y>\r\nTo: old@example.org\r\n" +
		"Resent-To: new@example.org\r\nResent-Bcc: blind@example.org\r\n\r\nbody\r\n"
	p, _ := prepare([]byte(in), true, "a@shop1.example", "", "h", "ID2", 0, now)
	if !slices.Equal(p.recipients, []string{"new@example.org", "blind@example.org"}) {
		t.Errorf("Resent- recipients: %q", p.recipients)
	}
	s := string(p.data)
	if strings.Contains(s, "blind@") || strings.Count(s, "Date:") != 1 || strings.Count(s, "Message-ID:") != 1 || strings.Count(s, "From:") != 1 {
		t.Errorf("got %q", s)
	}
	// Without -t the header gives no recipients, and Bcc still goes.
	p, _ = prepare([]byte("Bcc: b@example.org\r\nSubject: s\r\n\r\nx\r\n"), false, "", "", "h", "ID3", 0, now)
	if len(p.recipients) != 0 || bytes.Contains(p.data, []byte("Bcc")) || bytes.Contains(p.data, []byte("From:")) {
		t.Errorf("without -t: %q %q", p.recipients, p.data)
	}
}

func TestPrepareMissingBlankLine(t *testing.T) {
	in := "Subject: contact form\r\nTo: owner@shop1.example\r\nHello, I would like to order.\r\nThanks\r\n"
	p, _ := prepare([]byte(in), true, "", "", "h", "ID4", 0, now)
	if !strings.HasSuffix(string(p.data), "\r\n\r\nHello, I would like to order.\r\nThanks\r\n") {
		t.Errorf("got %q", p.data)
	}
	if !slices.Equal(p.recipients, []string{"owner@shop1.example"}) {
		t.Errorf("recipients %q", p.recipients)
	}
}

// TestPrepareRecipients: -t reads every address of To, Cc and Bcc, quoted
// local parts with their quotes, and a field with an address it cannot
// read fails the message naming the field and the address.
func TestPrepareRecipients(t *testing.T) {
	in := "To: \"a b\"@example.org, Ann Lee <\"a\\\"b\"@example.org>\r\n" +
		"Cc: friends: c@example.org (Carl);, root\r\n" +
		"Bcc: =?UTF-8?Q?J=C3=B6rg?= <jörg@exämple.org>\r\n\r\nbody\r\n"
	p, err := prepare([]byte(in), true, "shop@shop1.example", "", "h", "ID5", 0, now)
	want := []string{`"a b"@example.org`, `"a\"b"@example.org`, "c@example.org", "root", "jörg@exämple.org"}
	if err != nil || !slices.Equal(p.recipients, want) {
		t.Errorf("recipients %q, %v; want %q", p.recipients, err, want)
	}
	for _, tc := range []struct{ field, want string }{
		{"To: a@example.org, John Doe john@example.org", `header field To: spamrun: bad address "John Doe john@example.org": a name needs its address in angle brackets`},
		{"cc: a@b@example.org", `header field cc: spamrun: bad address "a@b@example.org"`},
		{"Bcc: <a..b@example.org>", `header field Bcc: spamrun: bad address "a..b@example.org"`},
	} {
		_, err := prepare([]byte(tc.field+"\r\nSubject: x\r\n\r\nbody\r\n"), true, "", "", "h", "ID6", 0, now)
		if !errors.Is(err, spamrun.ErrBadAddress) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error starting %q", tc.field, err, tc.want)
		}
	}
	// Without -t the header's addresses are not read, so they cannot fail.
	if _, err := prepare([]byte("To: John Doe john@example.org\r\n\r\nx\r\n"), false, "", "", "h", "ID7", 0, now); err != nil {
		t.Errorf("without -t: %v", err)
	}
}

// FuzzReadMessage: the reader never panics, emits only CRLF line endings,
// and keeps every byte of every line it accepts.
func FuzzReadMessage(f *testing.F) {
	f.Add([]byte("Subject: x\n\nbody\n.\nafter"), true)
	f.Add([]byte("From x\r\nA: b\r\n\r\n\x00\r\r\n"), false)
	f.Fuzz(func(t *testing.T, in []byte, dotEnds bool) {
		out, err := ReadMessage(bytes.NewReader(in), dotEnds, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
			t.Fatalf("output does not end in CRLF: %q", out)
		}
		if bytes.Count(out, []byte("\n")) != bytes.Count(out, []byte("\r\n")) {
			t.Fatalf("bare LF in output: %q", out)
		}
		if !dotEnds {
			eol := byte('\n')
			if bytes.IndexByte(in, '\n') < 0 {
				eol = '\r' // classic Mac OS line endings
			}
			lines := bytes.Count(in, []byte{eol})
			if len(in) > 0 && in[len(in)-1] != eol {
				lines++
			}
			if got := bytes.Count(out, []byte("\r\n")); got != lines && got != lines-1 { // -1: a dropped mbox From line
				t.Fatalf("%d lines in, %d out", lines, got)
			}
		}
		p, err := prepare(out, true, "a@b.example", "", "h", "ID", 0, now)
		if err != nil {
			if !errors.Is(err, spamrun.ErrBadAddress) {
				t.Fatalf("prepare: %v", err)
			}
			return
		}
		fields, _ := splitHeader(p.data)
		for _, f := range fields {
			if f.is("Bcc") || f.is("Resent-Bcc") {
				t.Fatalf("a Bcc field survived: %q", f.raw)
			}
		}
	})
}
