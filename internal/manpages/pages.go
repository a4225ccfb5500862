package main

import (
	"fmt"
	"strings"
)

// The files the pages name. The installed ones; a source install with
// scripts/install.sh puts the programs under /usr/local/sbin instead.
const (
	configPath = "/etc/spamrun/spamrun.toml"
	stateDir   = "/var/lib/spamrun"
	spoolDir   = "/var/spool/spamrun"
	runSocket  = "/run/spamrun/sendmail.sock"
	homePage   = "https://github.com/spamrun/spamrun"
)

// operatorPage is spamrun(8): the usage text's commands, then the package
// comment of cmd/spamrun.
func operatorPage(src *sources) []byte {
	p := newPage("spamrun", 8, "the operator's command of spamrun, which stops spam runs from hacked websites")
	p.section("SYNOPSIS")
	first, _, _ := strings.Cut(src.usage, "\n")
	p.b.WriteString(".B spamrun\n")
	p.line(strings.TrimSpace(strings.TrimPrefix(first, "usage: spamrun")))
	p.section("COMMANDS")
	for _, c := range src.commands {
		p.tagged(c.synopsis, c.description)
	}
	p.section("DESCRIPTION")
	p.doc(withoutCommandLead(src.operatorDoc, "spamrun"))
	files(p)
	p.section("ENVIRONMENT")
	p.tagged("SPAMRUN_CONFIG", "The configuration file to read instead of "+configPath+".")
	seeAlso(p, "spamrun-sendmail(8)", "spamrun.toml(5)", "nft(8)", "dpkg-divert(1)")
	return p.bytes()
}

// sendmailPage is spamrun-sendmail(8), the package comment of sendmail.
func sendmailPage(src *sources) []byte {
	p := newPage("spamrun-sendmail", 8, "spamrun's sendmail-compatible submission program, /usr/sbin/sendmail")
	p.section("SYNOPSIS")
	p.code(strings.Join([]string{
		"sendmail [-t] [-i|-oi] [-f sender] [-F name] [options] [--] [recipient ...]",
		"sendmail -bs",
		"sendmail -bp",
		"mailq",
		"sendmail -q",
	}, "\n"))
	p.section("DESCRIPTION")
	p.doc(withoutCommandLead(src.sendmailDoc, "sendmail"))
	p.text("Installed, it is /usr/sbin/spamrun-sendmail, setuid and setgid to the user and group spamrun. " +
		"It reads only " + configPath + ", whatever the environment of the website that runs it says, " +
		"and logs one line per message to syslog (facility mail), naming the release of spamrun that wrote it.")
	p.text("/usr/sbin/sendmail is a link to /usr/sbin/spamrun-sendmail-front, the sendmail front, which is not setuid; " +
		"the MTA's own sendmail is diverted to /usr/sbin/sendmail.distrib. " +
		"For a message to submit, the front hands its command line and its standard input to spamrun serve over the socket " +
		runSocket + " ([smtpd] sendmail_socket): the daemon identifies the website by the UID the kernel reports for the socket, " +
		"decides and spools the message, and answers with the exit status spamrun-sendmail would have given, then relays. " +
		"For everything else, and when the daemon is not running or does not answer within 25 milliseconds, " +
		"the front runs spamrun-sendmail from its own directory in its place, with the same arguments and its standard input unread, " +
		"so mail goes out without the daemon too.")
	files(p)
	p.tagged(runSocket, "spamrun serve's socket for the sendmail front, in /run/spamrun (spamrun:spamrun, mode 0755), "+
		"which the unit spamrun-queue.service and /usr/lib/tmpfiles.d/spamrun.conf make.")
	p.section("ENVIRONMENT")
	p.tagged("SPAMRUN_SENDMAIL_SOCKET", "The socket the sendmail front connects to instead of "+runSocket+
		", for a daemon whose [smtpd] sendmail_socket is elsewhere. The front has no privilege a website could misuse through it.")
	seeAlso(p, "spamrun(8)", "spamrun.toml(5)", "sendmail(1)", "postfix(1)")
	return p.bytes()
}

// configPage is spamrun.toml(5): the package comment of config, then the
// annotated example.
func configPage(src *sources) []byte {
	p := newPage("spamrun.toml", 5, "the configuration file of spamrun's sendmail and operator command")
	p.section("SYNOPSIS")
	p.line(configPath)
	p.section("DESCRIPTION")
	doc := src.configDoc
	if i := strings.Index(doc, "spamrun.toml"); i >= 0 && strings.HasPrefix(doc, "Package config loads ") {
		doc = "spamrun.toml" + doc[i+len("spamrun.toml"):]
		doc = strings.Replace(doc, "spamrun.toml, the one", "spamrun.toml is the one", 1)
	}
	p.doc(doc)
	p.section("EXAMPLE")
	p.text("The annotated example, installed as " + configPath + " when there is none:")
	p.code(src.example)
	seeAlso(p, "spamrun(8)", "spamrun-sendmail(8)")
	return p.bytes()
}

// withoutCommandLead turns "Command spamrun is the ..." into "spamrun is
// the ...": the page is about the program, not the Go package.
func withoutCommandLead(doc, name string) string {
	return strings.Replace(doc, "Command "+name+" is ", name+" is ", 1)
}

func files(p *page) {
	p.section("FILES")
	p.tagged(configPath, "The configuration; see spamrun.toml(5).")
	p.tagged(stateDir, "The state: the sites' windows, incidents and the audit log (root:spamrun, mode 2770).")
	p.tagged(spoolDir, "The spool: the queue, the quarantine and the event journal (root:spamrun, mode 2770).")
}

func seeAlso(p *page, pages ...string) {
	p.section("SEE ALSO")
	var refs []string
	for _, ref := range pages {
		name, section, _ := strings.Cut(ref, "(")
		refs = append(refs, fmt.Sprintf(".BR %s (%s", escape(name), escape(section)))
	}
	for i, r := range refs {
		if i < len(refs)-1 {
			r += ","
		}
		p.b.WriteString(r + "\n")
	}
	p.b.WriteString(".PP\n")
	p.line("README.md in /usr/share/doc/spamrun, and " + homePage + ".")
}
