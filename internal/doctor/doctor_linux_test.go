package doctor

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spamrun/spamrun/internal/peercred"
	"github.com/spamrun/spamrun/spamruntest"
)

// TestMain answers ProbeArg as spamrun doctor-probe does: Run runs this
// test binary again, as the site user, to try the doors.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == ProbeArg {
		if err := RunProbe(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testTimeout is the doors' timeout in the tests: long enough for a
// loaded machine, short for the doors that must time out.
const testTimeout = 2 * time.Second

// fakeMTA is an SMTP server that greets, answers QUIT and records, for
// each session, the UID that owns the client's socket and every line the
// client sent.
type fakeMTA struct {
	// redirected: the clients come through an nftables redirect, whose
	// sockets are found by their original destination, which the fake
	// does not know; it does not record their owners.
	redirected bool

	mu    sync.Mutex
	uids  []int
	lines []string
}

// serveSMTP starts a fakeMTA on addr that greets with greeting, in TLS
// from the first byte when tlsConf is not nil.
func serveSMTP(t *testing.T, addr, greeting string, tlsConf *tls.Config) *fakeMTA {
	t.Helper()
	return serve(t, &fakeMTA{}, addr, greeting, tlsConf)
}

func serve(t *testing.T, m *fakeMTA, addr, greeting string, tlsConf *tls.Config) *fakeMTA {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on %s: %v", addr, err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { m.session(t, c, greeting, tlsConf) })
		}
	})
	return m
}

func (m *fakeMTA) session(t *testing.T, c net.Conn, greeting string, tlsConf *tls.Config) {
	defer c.Close()
	if !m.redirected {
		cred, err := peercred.FromConn(c)
		if err != nil {
			t.Errorf("the owner of the client of %s: %v", c.LocalAddr(), err)
			return
		}
		m.mu.Lock()
		m.uids = append(m.uids, cred.UID)
		m.mu.Unlock()
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var conn net.Conn = c
	if tlsConf != nil {
		conn = tls.Server(c, tlsConf)
	}
	fmt.Fprintf(conn, "%s\r\n", greeting)
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		m.mu.Lock()
		m.lines = append(m.lines, line)
		m.mu.Unlock()
		if strings.EqualFold(line, "QUIT") {
			fmt.Fprint(conn, "221 2.0.0 Bye\r\n")
			return
		}
		fmt.Fprint(conn, "502 5.5.1 not here\r\n")
	}
}

// seen returns the owners and lines the server recorded.
func (m *fakeMTA) seen() (uids []int, lines []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.uids), slices.Clone(m.lines)
}

// selfSigned is a TLS configuration with a certificate made up on the
// spot.
func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"mx.example"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: priv}}}
}

// programs writes programs into a directory that every user can enter,
// each with its mode, owned by root, and returns their paths by name.
func programs(t *testing.T, progs map[string]program) map[string]string {
	t.Helper()
	dir, err := os.MkdirTemp("", "doctor-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	paths := make(map[string]string)
	for name, p := range progs {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(p.script), p.mode); err != nil {
			t.Fatal(err)
		}
		// WriteFile's mode passes through the umask.
		if err := os.Chmod(path, p.mode); err != nil {
			t.Fatal(err)
		}
		paths[name] = path
	}
	return paths
}

type program struct {
	script string
	mode   os.FileMode
}

// sendmailBS is a program that greets on -bs as sendmail does and ends on
// QUIT.
func sendmailBS(greeting string, mode os.FileMode) program {
	return program{mode: mode, script: "#!/bin/sh\n" +
		"[ \"$1\" = -bs ] || { echo \"not -bs: $*\" >&2; exit 64; }\n" +
		"printf '" + greeting + "\\r\\n'\n" +
		"while read -r line; do case \"$line\" in QUIT*) printf '221 Bye\\r\\n'; exit 0;; esac; done\n"}
}

// addOutsideAddress gives the namespace's loopback 203.0.113.1, so that a
// server there stands for one on the internet.
func addOutsideAddress(t *testing.T) {
	t.Helper()
	ip(t, "addr", "add", DefaultRemote+"/32", "dev", "lo")
}

// routeToNowhere routes TEST-NET-3 through a veth pair whose other end
// answers nothing: a connection there is neither made nor refused, as one
// to a host that drops it.
func routeToNowhere(t *testing.T) {
	t.Helper()
	ip(t, "link", "add", "out0", "type", "veth", "peer", "name", "out1")
	ip(t, "link", "set", "out0", "up")
	ip(t, "link", "set", "out1", "up")
	ip(t, "addr", "add", "198.51.100.2/24", "dev", "out0")
	ip(t, "route", "add", "203.0.113.0/24", "via", "198.51.100.1", "dev", "out0")
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// loadNFT loads a ruleset into the test's network namespace.
func loadNFT(t *testing.T, ruleset string) {
	t.Helper()
	spamruntest.NeedCommand(t, "nft", "nftables")
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v: %s\n%s", err, out, ruleset)
	}
}

// doorsByName indexes a site's doors.
func doorsByName(t *testing.T, s SiteReport) map[string]Door {
	t.Helper()
	if s.Error != "" {
		t.Fatalf("site %s not tried: %s", s.Site, s.Error)
	}
	m := make(map[string]Door)
	for _, d := range s.Doors {
		m[d.Name] = d
	}
	return m
}

// want is what a test expects of one door.
type want struct {
	kind   Kind
	label  string
	seen   string // a part of Seen
	hasFix bool
}

func checkDoors(t *testing.T, s SiteReport, wants map[string]want) {
	t.Helper()
	doors := doorsByName(t, s)
	if len(doors) != len(wants) {
		t.Errorf("%d doors, want %d: %+v", len(doors), len(wants), s.Doors)
	}
	for name, w := range wants {
		d, ok := doors[name]
		if !ok {
			t.Errorf("door %s missing", name)
			continue
		}
		if d.Kind != w.kind || d.Label() != w.label || !strings.Contains(d.Seen, w.seen) || (d.Fix != "") != w.hasFix {
			t.Errorf("door %s: kind %s, %q, seen %q, fix %q; want kind %s, %q, seen containing %q, a fix: %v",
				name, d.Kind, d.Label(), d.Seen, d.Fix, w.kind, w.label, w.seen, w.hasFix)
		}
	}
}

func needUser(t *testing.T) User {
	t.Helper()
	spamruntest.NeedSiteUsers(t)
	su := spamruntest.AddSiteUser(t, "dr")
	return User{Site: su.Login, Login: su.Login, UID: su.UID, GID: su.GID}
}

// TestDoorsAsSiteUser tries every kind of door as a real site user inside
// a network namespace: programs the user may or may not execute, one
// greeting as spamrun, one as Postfix; an MTA on 127.0.0.1:25, spamrun
// on [::1]:25, nothing on :587; outside, spamrun on 25, Postfix in TLS on
// 465 and Postfix on 587. The servers see the site user's UID and
// nothing but QUIT, and postdrop is never run.
func TestDoorsAsSiteUser(t *testing.T) {
	if !spamruntest.InNetNS(t) {
		return
	}
	u := needUser(t)
	ran := t.TempDir() // a dropper that ran, or a message read, would leave a file here
	if err := os.Chmod(ran, 0o777); err != nil {
		t.Fatal(err)
	}
	bins := programs(t, map[string]program{
		"sendmail":         sendmailBS("220 h ESMTP spamrun", 0o755),
		"sendmail.distrib": sendmailBS("220 h ESMTP Postfix (Debian/GNU)", 0o755),
		"sendmail.postfix": sendmailBS("220 h ESMTP Postfix (Debian/GNU)", 0o750),
		"exim4":            {mode: 0o755, script: "#!/bin/sh\necho 'exim: not configured' >&2\nexit 1\n"},
		// A sendmail that ignores -bs and reads a message: it must get none.
		"sendmail.reads": {mode: 0o755, script: "#!/bin/sh\nmsg=$(cat)\nprintf '%s' \"$msg\" > " + ran + "/message\n"},
		"postdrop":       {mode: 0o755, script: "#!/bin/sh\ntouch " + ran + "/postdrop\n"},
		"postqueue":      {mode: 0o750, script: "#!/bin/sh\ntouch " + ran + "/postqueue\n"},
	})
	addOutsideAddress(t)
	local25 := serveSMTP(t, "127.0.0.1:25", "220 h ESMTP Postfix (Debian/GNU)", nil)
	local6 := serveSMTP(t, "[::1]:25", "220 h ESMTP spamrun", nil)
	out25 := serveSMTP(t, DefaultRemote+":25", "220-mx.example ESMTP spamrun\r\n220 mx.example ready", nil)
	out465 := serveSMTP(t, DefaultRemote+":465", "220 mx.example ESMTP Postfix", selfSigned(t))
	out587 := serveSMTP(t, DefaultRemote+":587", "220 mx.example ESMTP Postfix", nil)

	start := time.Now()
	rep, err := Run(context.Background(), []User{u}, &Options{
		Binaries: []string{bins["sendmail"], bins["sendmail.distrib"], bins["sendmail.postfix"], bins["exim4"], bins["sendmail.reads"], "/nonexistent/sendmail"},
		Droppers: []string{bins["postdrop"], bins["postqueue"]},
		Timeout:  testTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d doors tried in %v", len(rep.Sites[0].Doors), time.Since(start).Round(time.Millisecond))
	checkDoors(t, rep.Sites[0], map[string]want{
		bins["sendmail"]:         {Sendmail, "through spamrun", "220 h ESMTP spamrun", false},
		bins["sendmail.distrib"]: {Sendmail, "OPEN", "Postfix", true},
		bins["sendmail.postfix"]: {Sendmail, "closed", "may not execute", false},
		bins["exim4"]:            {Sendmail, "OPEN", "exim: not configured", true},
		bins["sendmail.reads"]:   {Sendmail, "OPEN", "no greeting within 2s", true},
		bins["postdrop"]:         {Dropper, "OPEN", "may execute", true},
		bins["postqueue"]:        {Dropper, "closed", "may not execute", false},
		"127.0.0.1:25":           {SMTPLocal, "OPEN", "Postfix", true},
		"[::1]:25":               {SMTPLocal, "through spamrun", "spamrun", false},
		"127.0.0.1:587":          {SMTPLocal, "closed", "refused", false},
		DefaultRemote + ":25":    {SMTPOutside, "through spamrun", "220-mx.example ESMTP spamrun", false},
		DefaultRemote + ":465":   {SMTPOutside, "OPEN", "Postfix", true},
		DefaultRemote + ":587":   {SMTPOutside, "OPEN", "Postfix", true},
	})
	if rep.Open != 7 {
		t.Errorf("Open = %d, want 7", rep.Open)
	}
	if err := rep.Err(); !errors.Is(err, ErrOpen) || !strings.Contains(err.Error(), "7 doors are open") {
		t.Errorf("Err() = %v, want ErrOpen counting 7 doors", err)
	}
	if d := doorsByName(t, rep.Sites[0])[DefaultRemote+":465"]; !strings.Contains(d.Fix, "465") {
		t.Errorf("the fix of port 465 is %q, which does not say the lock rejects it", d.Fix)
	}
	for name, m := range map[string]*fakeMTA{"127.0.0.1:25": local25, "[::1]:25": local6, "outside:25": out25, "outside:465": out465, "outside:587": out587} {
		uids, lines := m.seen()
		if !slices.Equal(uids, []int{u.UID}) || !slices.Equal(lines, []string{"QUIT"}) {
			t.Errorf("%s saw clients of UIDs %v sending %q; want one of UID %d sending QUIT only", name, uids, lines, u.UID)
		}
	}
	if left, _ := os.ReadDir(ran); len(left) > 0 {
		t.Errorf("the doctor ran a dropper or fed a message: %s/%s", ran, left[0].Name())
	}

	var table bytes.Buffer
	if err := WriteTable(&table, rep); err != nil {
		t.Fatal(err)
	}
	t.Logf("the table:\n%s", table.String())
	for _, line := range []string{
		fmt.Sprintf("site %s: user %s, UID %d", u.Site, u.Login, u.UID),
		"fix 127.0.0.1:25: egress = \"redirect\" in spamrun.toml and `spamrun egress apply`",
		"fix " + bins["postdrop"] + ": chmod o-x " + bins["postdrop"] + " (scripts/install.sh does this)",
		"7 doors are OPEN",
	} {
		if !strings.Contains(table.String(), line) {
			t.Errorf("the table lacks %q", line)
		}
	}
	if !regexp.MustCompile(`(?m)^  127\.0\.0\.1:587 +smtp-local +closed +`).MatchString(table.String()) {
		t.Errorf("the table has no row for 127.0.0.1:587 closed")
	}

	raw, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Open  int `json:"open"`
		Sites []struct {
			Site  string `json:"site"`
			UID   int    `json:"uid"`
			Doors []struct {
				Door, Kind, Status, Seen, Fix string
			} `json:"doors"`
		} `json:"sites"`
	}
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.Open != 7 || len(back.Sites) != 1 || back.Sites[0].Site != u.Site || back.Sites[0].UID != u.UID || len(back.Sites[0].Doors) != 13 {
		t.Fatalf("JSON: %s", raw)
	}
	for _, d := range back.Sites[0].Doors {
		if d.Door == "127.0.0.1:25" && (d.Status != "OPEN" || d.Kind != "smtp-local" || !strings.Contains(d.Fix, "egress")) {
			t.Errorf("JSON of 127.0.0.1:25: %+v", d)
		}
	}
}

// TestEveryDoorClosed is a host where nothing is open: the programs are
// spamrun's or closed to the user, nothing listens on loopback but
// spamrun, and outside every port refuses.
func TestEveryDoorClosed(t *testing.T) {
	if !spamruntest.InNetNS(t) {
		return
	}
	u := needUser(t)
	bins := programs(t, map[string]program{
		"sendmail":         sendmailBS("220 h ESMTP spamrun", 0o755),
		"sendmail.distrib": sendmailBS("220 h ESMTP Postfix", 0o700),
		"postdrop":         {mode: 0o750, script: "#!/bin/sh\nexit 0\n"},
	})
	addOutsideAddress(t)
	serveSMTP(t, "127.0.0.1:25", "220 h ESMTP spamrun", nil)
	serveSMTP(t, "127.0.0.1:587", "554 5.7.1 h refuses websites", nil)
	start := time.Now()
	rep, err := Run(context.Background(), []User{u}, &Options{
		Binaries: []string{bins["sendmail"], bins["sendmail.distrib"]},
		Droppers: []string{bins["postdrop"]},
		Timeout:  testTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d doors, each answering at once, tried in %v", len(rep.Sites[0].Doors), time.Since(start).Round(time.Millisecond))
	checkDoors(t, rep.Sites[0], map[string]want{
		bins["sendmail"]:         {Sendmail, "through spamrun", "spamrun", false},
		bins["sendmail.distrib"]: {Sendmail, "closed", "may not execute", false},
		bins["postdrop"]:         {Dropper, "closed", "may not execute", false},
		"127.0.0.1:25":           {SMTPLocal, "through spamrun", "spamrun", false},
		"[::1]:25":               {SMTPLocal, "closed", "", false},
		"127.0.0.1:587":          {SMTPLocal, "closed", "refuses: 554", false},
		DefaultRemote + ":25":    {SMTPOutside, "closed", "refused", false},
		DefaultRemote + ":465":   {SMTPOutside, "closed", "refused", false},
		DefaultRemote + ":587":   {SMTPOutside, "closed", "refused", false},
	})
	if rep.Open != 0 || rep.Err() != nil {
		t.Errorf("Open = %d, Err() = %v; want 0, nil", rep.Open, rep.Err())
	}
	var table bytes.Buffer
	if err := WriteTable(&table, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(table.String(), "\nevery door is closed or leads through spamrun\n") {
		t.Errorf("the table ends otherwise:\n%s", table.String())
	}
}

// TestSilentAddressAndTheLock tries an outside address that answers
// nothing: without the egress lock its ports are "OPEN?", with a lock
// that drops them for the user "closed (egress lock)", and a lock for
// another user leaves them open.
func TestSilentAddressAndTheLock(t *testing.T) {
	if !spamruntest.InNetNS(t) {
		return
	}
	u := needUser(t)
	routeToNowhere(t)
	opts := &Options{Binaries: []string{}, Droppers: []string{}, Local: []string{}, Timeout: time.Second}
	outside := func(label, seen string, fix bool) map[string]want {
		m := make(map[string]want)
		for _, port := range OutsidePorts {
			m[net.JoinHostPort(DefaultRemote, strconv.Itoa(port))] = want{SMTPOutside, label, seen, fix}
		}
		return m
	}

	rep, err := Run(context.Background(), []User{u}, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkDoors(t, rep.Sites[0], outside("OPEN?", "there is no egress lock (table inet spamrun)", true))
	if rep.Open != 3 || !errors.Is(rep.Err(), ErrOpen) {
		t.Errorf("Open = %d, Err() = %v; want 3 and ErrOpen", rep.Open, rep.Err())
	}

	loadNFT(t, fmt.Sprintf(`table inet spamrun {
	chain egress {
		type filter hook output priority 0;
		meta skuid %d tcp dport { 25, 465, 587 } drop
	}
}`, u.UID+1))
	rep, err = Run(context.Background(), []User{u}, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkDoors(t, rep.Sites[0], outside("OPEN?", "no rule of the egress lock covers port", true))

	loadNFT(t, fmt.Sprintf(`flush table inet spamrun
table inet spamrun {
	chain egress {
		meta skuid %d tcp dport { 25, 465, 587 } drop
	}
}`, u.UID))
	rep, err = Run(context.Background(), []User{u}, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkDoors(t, rep.Sites[0], outside("closed (egress lock)", "the egress lock drops port", false))
	if rep.Open != 0 || rep.Err() != nil {
		t.Errorf("Open = %d, Err() = %v; want 0, nil", rep.Open, rep.Err())
	}
}

// TestRedirectLeadsThroughSpamrun loads the redirect the egress lock
// makes: the site user's connections to port 25 anywhere land on
// spamrun's listener, so the outside address and 127.0.0.1:25 lead
// through spamrun although an MTA listens on the latter. Port 465,
// redirected too, meets a listener that greets in plain text, which the
// probe's TLS handshake recognises.
func TestRedirectLeadsThroughSpamrun(t *testing.T) {
	if !spamruntest.InNetNS(t) {
		return
	}
	u := needUser(t)
	routeToNowhere(t)
	mta := serveSMTP(t, "127.0.0.1:25", "220 h ESMTP Postfix", nil)
	listener := serve(t, &fakeMTA{redirected: true}, "127.0.0.1:10025", "220 h ESMTP spamrun", nil)
	loadNFT(t, fmt.Sprintf(`table inet t {
	chain o {
		type nat hook output priority -100;
		meta skuid %d tcp dport { 25, 465 } redirect to :10025
	}
}`, u.UID))
	rep, err := Run(context.Background(), []User{u}, &Options{
		Binaries: []string{}, Droppers: []string{}, Local: []string{"127.0.0.1:25"}, Timeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	doors := doorsByName(t, rep.Sites[0])
	for _, name := range []string{"127.0.0.1:25", DefaultRemote + ":25", DefaultRemote + ":465"} {
		if d := doors[name]; d.Status != Through || d.Unsure {
			t.Errorf("door %s: %q, seen %q; want through spamrun", name, d.Label(), d.Seen)
		}
	}
	if _, lines := mta.seen(); len(lines) > 0 {
		t.Errorf("the MTA on 127.0.0.1:25 was reached: %q", lines)
	}
	// The client of port 465 sent its TLS hello before it knew better.
	_, lines := listener.seen()
	quits := 0
	for _, l := range lines {
		if strings.HasSuffix(l, "QUIT") {
			quits++
		}
	}
	if quits != 3 {
		t.Errorf("the listener saw %q, want QUIT from each of three doors", lines)
	}
}

// TestLockRules reads real rulesets back from nft and asks which rules
// cover a port for a UID.
func TestLockRules(t *testing.T) {
	if !spamruntest.InNetNS(t) {
		return
	}
	const site, other = 5001, 5002
	loadNFT(t, `table inet spamrun {
	set exempt { type uid; elements = { 0, 5002 } }
	set ports { type inet_service; elements = { 25, 587 } }
	chain nat {
		type nat hook output priority -100;
		meta skuid != @exempt tcp dport @ports redirect to :10025
	}
	chain filter {
		type filter hook output priority 0;
		meta skuid != { 0, 5002 } tcp dport 465 reject with tcp reset
		th dport 2000-2010 drop
		tcp dport 2525 accept
	}
}`)
	l, err := readLock(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		uid, port int
		action    string // "" when no rule covers it
	}{
		{site, 25, "redirect"},
		{site, 587, "redirect"},
		{site, 465, "reject"},
		{site, 2005, "drop"},
		{site, 2525, ""},
		{site, 26, ""},
		{other, 25, ""},
		{other, 465, ""},
		{other, 2000, "drop"},
	} {
		r, ok := l.covers(c.uid, c.port)
		if ok != (c.action != "") || r.action != c.action {
			t.Errorf("UID %d, port %d: rule %+v, %v; want %q", c.uid, c.port, r, ok, c.action)
		}
	}

	loadNFT(t, "delete table inet spamrun")
	if l, err := readLock(context.Background(), ""); err != nil || !l.absent {
		t.Errorf("without the table: %+v, %v; want it absent", l, err)
	}
}
