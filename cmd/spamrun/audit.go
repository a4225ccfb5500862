package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/syslog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spamrun/spamrun/config"
)

// auditRecord is one line of the audit log: what an operator did to a
// site or a message, and when.
type auditRecord struct {
	Time  time.Time `json:"time"`
	Event string    `json:"event"` // enable, release or purge
	Site  string    `json:"site"`
	// Operator is the login of the real UID; SudoUser who ran sudo to
	// become it, as sudo says. Both are the operator's word, not proof.
	Operator string `json:"operator"`
	SudoUser string `json:"sudo_user,omitempty"`
	Incident string `json:"incident,omitempty"`
	// ID and Sender name the message released or purged; the null
	// sender is "", so the field is a pointer.
	ID     string  `json:"id,omitempty"`
	Sender *string `json:"sender,omitempty"`
}

const auditName = "audit.log"

// auditor appends to the audit log in the state directory and, when the
// configuration logs to syslog, to syslog.
type auditor struct {
	path   string
	syslog bool
	env    *env // the clock, and SUDO_USER
	f      *os.File
	sl     *syslog.Writer
}

func (e *env) newAuditor(cfg *config.Config) *auditor {
	return &auditor{path: filepath.Join(cfg.StateDir, auditName), syslog: cfg.Syslog, env: e}
}

// operator returns who runs this command: the login of the real UID,
// which sudo sets to root, and the SUDO_USER sudo leaves behind.
func (a *auditor) operator() (login, sudoUser string) {
	uid := os.Getuid()
	login = "uid " + strconv.Itoa(uid)
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		login = u.Username
	}
	return login, a.env.getenv("SUDO_USER")
}

// log writes rec durably: an enable that the log lost could not be
// traced to anyone.
func (a *auditor) log(rec auditRecord) error {
	if rec.Time.IsZero() {
		rec.Time = a.env.now().UTC()
	}
	rec.Operator, rec.SudoUser = a.operator()
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if a.syslog {
		if a.sl == nil {
			a.sl, _ = syslog.New(syslog.LOG_MAIL|syslog.LOG_NOTICE, "spamrun")
		}
		if a.sl != nil {
			a.sl.Notice(rec.syslogLine())
		}
	}
	if a.f == nil {
		if err := os.MkdirAll(filepath.Dir(a.path), 0o770); err != nil {
			return err
		}
		a.f, err = os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o660)
		if err != nil {
			return err
		}
		// Every operator in the group appends, whoever wrote first and
		// whatever their umask; only the file's owner can change its mode.
		if fi, err := a.f.Stat(); err == nil && fi.Mode().Perm() != 0o660 {
			a.f.Chmod(0o660)
		}
	}
	if _, err := a.f.Write(append(line, '\n')); err != nil {
		return err
	}
	return a.f.Sync()
}

func (rec auditRecord) syslogLine() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s site=%s operator=%s", rec.Event, rec.Site, rec.Operator)
	if rec.SudoUser != "" {
		fmt.Fprintf(&b, " sudo_user=%s", rec.SudoUser)
	}
	if rec.Incident != "" {
		fmt.Fprintf(&b, " incident=%s", rec.Incident)
	}
	if rec.ID != "" {
		fmt.Fprintf(&b, " id=%s", rec.ID)
	}
	if rec.Sender != nil {
		fmt.Fprintf(&b, " from=<%s>", *rec.Sender)
	}
	return b.String()
}

func (a *auditor) close() {
	if a.f != nil {
		a.f.Close()
	}
	if a.sl != nil {
		a.sl.Close()
	}
}

// audit is spamrun audit: the audit log, oldest first. A line it cannot
// read is reported after the rest.
func (e *env) audit(args []string) error {
	f := newFlags("audit", "[--json]")
	asJSON := f.Bool("json", false, "print the records as a JSON array")
	operands, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(operands) > 0 {
		return f.usageErrorf("audit takes no operands")
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	path := filepath.Join(cfg.StateDir, auditName)
	recs, err := readAudit(path)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if *asJSON {
		if recs == nil {
			recs = []auditRecord{}
		}
		if werr := writeJSON(e.stdout, recs); werr != nil {
			return werr
		}
		return err
	}
	if len(recs) == 0 {
		fmt.Fprintf(e.stdout, "nothing in %s yet\n", path)
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tSITE\tOPERATOR\tDETAILS")
	for _, r := range recs {
		who := r.Operator
		if r.SudoUser != "" {
			who += " (sudo by " + r.SudoUser + ")"
		}
		var details []string
		if r.ID != "" {
			details = append(details, "message "+r.ID)
		}
		if r.Sender != nil {
			details = append(details, "from "+sender(*r.Sender))
		}
		if r.Incident != "" {
			details = append(details, "incident "+r.Incident)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", fmtTime(r.Time), cell(r.Event), cell(r.Site), cell(who), cell(strings.Join(details, ", ")))
	}
	tw.Flush()
	return err
}

// readAudit reads the audit log. A line that does not parse, say one cut
// short by a full disk, is skipped with a note in the error.
func readAudit(path string) ([]auditRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		recs []auditRecord
		errs []error
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var r auditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %v", path, n, err))
			continue
		}
		recs = append(recs, r)
	}
	return recs, errors.Join(append(errs, sc.Err())...)
}
