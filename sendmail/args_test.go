package main

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/spamrun/spamrun"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name  string
		argv0 string
		args  []string
		want  options
		usage string // a usage error containing this
	}{
		{name: "PHP mail() default", args: []string{"-t", "-i"},
			want: options{Mode: modeDeliver, Extract: true}},
		{name: "PHP mail() with -f joined", args: []string{"-t", "-i", "-fshop@shop1.example"},
			want: options{Mode: modeDeliver, Extract: true, Sender: "shop@shop1.example", SenderSet: true}},
		{name: "PHP mail() with -f separate", args: []string{"-t", "-i", "-f", "shop@shop1.example"},
			want: options{Mode: modeDeliver, Extract: true, Sender: "shop@shop1.example", SenderSet: true}},
		{name: "PHPMailer, duplicate flags, last -f wins", args: []string{"-oi", "-fa@shop1.example", "-t", "-oi", "-f", "b@shop1.example", "-t"},
			want: options{Mode: modeDeliver, Extract: true, Sender: "b@shop1.example", SenderSet: true}},
		{name: "clustered flags", args: []string{"-ti"},
			want: options{Mode: modeDeliver, Extract: true}},
		{name: "clustered flags ending in a value", args: []string{"-tif", "x@shop1.example"},
			want: options{Mode: modeDeliver, Extract: true, Sender: "x@shop1.example", SenderSet: true}},
		{name: "null sender", args: []string{"-f", "<>", "a@example.org"},
			want: options{Mode: modeDeliver, DotEnds: true, SenderSet: true, Recipients: []string{"a@example.org"}}},
		{name: "Symfony -t with -- and recipients", args: []string{"-t", "-i", "--", "a@example.org", "b@example.net"},
			want: options{Mode: modeDeliver, Extract: true, Recipients: []string{"a@example.org", "b@example.net"}}},
		{name: "recipient list in one word", args: []string{"-i", "a@example.org, Bo <b@example.net>"},
			want: options{Mode: modeDeliver, Recipients: []string{"a@example.org", "b@example.net"}}},
		{name: "options stop at the first recipient, as in Postfix", args: []string{"-i", "a@example.org", "-t"},
			want: options{Mode: modeDeliver, Recipients: []string{"a@example.org", "-t"}}},
		{name: "-- protects a recipient that looks like an option", args: []string{"--", "-oQ"},
			want: options{Mode: modeDeliver, DotEnds: true, Recipients: []string{"-oQ"}}},
		{name: "cron", args: []string{"-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"},
			want: options{Mode: modeDeliver, FullName: "CronDaemon", Recipients: []string{"root"}}},
		{name: "ignored options with values", args: []string{"-odi", "-oem", "-e", "x", "-h", "17", "-C", "/etc/x.cf", "-L", "label", "-O", "a=b", "-N", "never", "-R", "hdrs", "-V", "x", "-X", "/tmp/log", "-p", "smtp", "-B", "7BIT", "u@example.org"},
			want: options{Mode: modeDeliver, DotEnds: true, Recipients: []string{"u@example.org"}}},
		{name: "ignored flags", args: []string{"-m", "-x", "-U", "-G", "-c", "-4", "-6", "-v", "u@example.org"},
			want: options{Mode: modeDeliver, DotEnds: true, Verbose: true, Recipients: []string{"u@example.org"}}},
		{name: "-bs", args: []string{"-bs"}, want: options{Mode: modeSMTP, DotEnds: true}},
		{name: "-bs with recipients", args: []string{"-bs", "a@example.org"}, usage: "-bs takes no recipients"},
		{name: "-bp", args: []string{"-bp"}, want: options{Mode: modeList, DotEnds: true}},
		{name: "mailq", argv0: "/usr/bin/mailq", want: options{Mode: modeList, DotEnds: true}},
		{name: "-q", args: []string{"-q"}, want: options{Mode: modeFlush, DotEnds: true}},
		{name: "-q30m", args: []string{"-q30m"}, want: options{Mode: modeFlush, DotEnds: true}},
		{name: "newaliases", argv0: "newaliases", want: options{Mode: modeNoAlias, DotEnds: true}},
		{name: "-bm explicit", args: []string{"-bm", "a@example.org"}, want: options{Mode: modeDeliver, DotEnds: true, Recipients: []string{"a@example.org"}}},
		{name: "unknown -b mode", args: []string{"-bz"}, usage: "unsupported mode -bz"},
		{name: "daemon mode", args: []string{"-bd"}, usage: "unsupported mode -bd"},
		{name: "unknown option letter", args: []string{"-z", "a@example.org"}, usage: "unknown option -z"},
		{name: "-n", args: []string{"-n", "a@example.org"}, usage: "-n is not supported"},
		{name: "missing value", args: []string{"-t", "-f"}, usage: "-f requires a value"},
		{name: "no recipients", args: []string{"-i"}, usage: "no recipients"},
		{name: "header injection in -f", args: []string{"-t", "-fa@b.example\r\nBcc: victim@example.org"}, usage: "bad sender address"},
		{name: "space in -f", args: []string{"-t", "-f", "a@b.example c@d.example"}, usage: "bad sender address"},
		{name: "two addresses in -f", args: []string{"-t", "-f", "a@b.example,c@d.example"}, usage: "bad sender address"},
		{name: "quoted local parts", args: []string{"-i", "--", `"a b"@example.org`, `"a\"b"@x`, `"a.b"@example.org`, `Ann <"a,b"@example.org>`},
			want: options{Mode: modeDeliver, Recipients: []string{`"a b"@example.org`, `"a\"b"@x`, "a.b@example.org", `"a,b"@example.org`}}},
		{name: "UTF-8 and address literals", args: []string{"-i", "用户@例子.广告", "a@[192.0.2.1]", "a@[IPv6:2001:db8::1]"},
			want: options{Mode: modeDeliver, Recipients: []string{"用户@例子.广告", "a@[192.0.2.1]", "a@[IPv6:2001:db8::1]"}}},
		{name: "quoted -f", args: []string{"-t", "-f", `"shop desk"@shop1.example`},
			want: options{Mode: modeDeliver, Extract: true, DotEnds: true, Sender: `"shop desk"@shop1.example`, SenderSet: true}},
		{name: "CRLF in a recipient, before any splitting", args: []string{"-i", "a@b.example\r\nRCPT TO:<x@y.example>"}, usage: `bad recipient argument "a@b.example\r\nRCPT TO:<x@y.example>": it holds a line break or NUL`},
		{name: "LF between two recipients of one word", args: []string{"-i", "a@b.example,\nx@y.example"}, usage: "line break or NUL"},
		{name: "NUL in a recipient", args: []string{"-i", "a@b.example\x00"}, usage: "line break or NUL"},
		{name: "CR in a quoted local part", args: []string{"-i", "\"a\rb\"@b.example"}, usage: "line break or NUL"},
		{name: "name without angle brackets", args: []string{"-i", "John Doe john@example.org"}, usage: `bad recipient address: spamrun: bad address "John Doe john@example.org"`},
		{name: "two at signs", args: []string{"-i", "a@b@c"}, usage: `bad address "a@b@c"`},
		{name: "unbalanced quote", args: []string{"-i", `"a b@example.org`}, usage: "no closing quote"},
		{name: "empty group only", args: []string{"-i", "undisclosed-Recipients:;"}, usage: "holds no address"},
		{name: "empty recipient", args: []string{"-i", ""}, usage: "holds no address"},
		{name: "line break in -F", args: []string{"-t", "-F", "Name\nBcc: x@y.example"}, usage: "bad full name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv0 := tt.argv0
			if argv0 == "" {
				argv0 = "/usr/sbin/sendmail"
			}
			got, err := parseArgs(argv0, tt.args)
			if tt.usage != "" {
				var ue *usageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.usage) {
					t.Fatalf("err = %v, want a usage error with %q", err, tt.usage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Mode != tt.want.Mode || got.Extract != tt.want.Extract || got.DotEnds != tt.want.DotEnds ||
				got.Sender != tt.want.Sender || got.SenderSet != tt.want.SenderSet || got.FullName != tt.want.FullName ||
				got.Verbose != tt.want.Verbose || !slices.Equal(got.Recipients, tt.want.Recipients) {
				t.Errorf("got %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

// FuzzParseArgs: whatever the words, the parser answers with options or a
// usage error, and what it accepts is safe to use: every sender and
// recipient is an address in the canonical form of spamrun.ParseAddress,
// which holds no line break.
func FuzzParseArgs(f *testing.F) {
	for _, seed := range []string{"-t -i", "-oi -fa@b.example -t", "-bs", "-q", "-- -x a@b.example", "-fa@b\r\nX: y", "-ti -F Name a@b.example"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Split(line, " ")
		o, err := parseArgs("sendmail", args)
		if err != nil {
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Fatalf("not a usage error: %v", err)
			}
			return
		}
		for _, a := range append([]string{o.Sender, o.FullName}, o.Recipients...) {
			if strings.ContainsAny(a, "\r\n\x00") {
				t.Fatalf("accepted a value with a line break: %q", a)
			}
		}
		for _, r := range append([]string{o.Sender}, o.Recipients...) {
			if again, err := spamrun.ParseAddress(r); again != r || err != nil {
				t.Fatalf("accepted %q, which ParseAddress reads as %q, %v", r, again, err)
			}
		}
		if o.Mode == modeSMTP && len(o.Recipients) > 0 {
			t.Fatal("-bs with recipients accepted")
		}
	})
}
