package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/BurntSushi/toml"

	"github.com/spamrun/spamrun"
)

// Error is one problem with a configuration: a TOML syntax error, an
// unknown key, or a value that makes no sense. For what a file says, Load
// and Parse return one Error, or several joined with errors.Join in the
// order of the file; a file that cannot be read is an *fs.PathError.
type Error struct {
	// File is the name given to Load or Parse; "" for a Config built in Go.
	File string
	// Line counts from 1. It is 0 when the key is not in the file, so
	// that its default is at fault, or when there is no file.
	Line int
	// Key is the key as the file would write it: "policy.max_spam",
	// `sites."shop1.example".domains`. It is "" for a syntax error.
	Key string
	Msg string
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File == "":
		b.WriteString("config")
	case e.Line > 0:
		fmt.Fprintf(&b, "%s:%d", e.File, e.Line)
	default:
		b.WriteString(e.File)
	}
	if e.Key != "" {
		b.WriteString(": " + e.Key)
		if e.File != "" && e.Line == 0 {
			b.WriteString(" (default)")
		}
	}
	b.WriteString(": ")
	// The message goes to sendmail's stderr and to syslog: one line.
	for _, r := range e.Msg {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// maxErrors is how many problems one error reports: enough to fix a file
// in a few rounds, few enough to read.
const maxErrors = 20

// problem is an Error before its line is known.
type problem struct {
	key []string
	msg string
}

// source is the file, kept to find the line of a key when something is
// wrong with it, which is rare enough to be done one key at a time, after
// parsing the file again for it.
type source struct {
	name string
	data []byte

	mu    sync.Mutex // PrimitiveDecode uses md as scratch space
	md    *toml.MetaData
	top   map[string]toml.Primitive
	order map[string]int // a key or table, as Key.String, to the index in md.Keys() of its first key
}

// positions parses the file into Primitives, whose keys remember their
// place; false if that fails, which it does not for a file parsed before.
func (s *source) positions() bool {
	if s.md != nil {
		return true
	}
	var top map[string]toml.Primitive
	md, err := toml.NewDecoder(bytes.NewReader(s.data)).Decode(&top)
	if err != nil {
		return false
	}
	s.md, s.top = &md, top
	s.order = make(map[string]int)
	for i, k := range md.Keys() {
		for j := 1; j <= len(k); j++ {
			p := k[:j].String()
			if _, ok := s.order[p]; !ok {
				s.order[p] = i
			}
		}
	}
	return true
}

// index returns where key comes in the file, or -1 when it is not there.
func (s *source) index(key []string) int {
	if !s.positions() {
		return -1
	}
	if i, ok := s.order[toml.Key(key).String()]; ok {
		return i
	}
	return -1
}

// line returns the line of a key, or of the first key in a table that is
// only implied by dotted keys or deeper headers; 0 when it is not there.
//
// TOML keeps positions but does not export them, except in the ParseError
// of an Unmarshaler that fails; a probe that always fails reads them.
// Position.Start is the byte offset of the value. Position.Line is not
// used, because for a multi-line string it is the line where the string
// ends.
func (s *source) line(key []string) int {
	i := s.index(key)
	if i < 0 {
		return 0
	}
	key = s.md.Keys()[i]
	prims := s.top
	for j, k := range key {
		prim, ok := prims[k]
		if !ok {
			return 0
		}
		if j < len(key)-1 {
			prims = nil
			if err := s.md.PrimitiveDecode(prim, &prims); err != nil {
				return 0
			}
			continue
		}
		var pe toml.ParseError
		if !errors.As(s.md.PrimitiveDecode(prim, new(probe)), &pe) || pe.Position.Line == 0 {
			return 0
		}
		start := min(max(pe.Position.Start, 0), len(s.data))
		return 1 + bytes.Count(s.data[:start], []byte("\n"))
	}
	return 0
}

type probe struct{}

var errProbe = errors.New("probe")

func (*probe) UnmarshalTOML(any) error { return errProbe }

// errorOf turns problems into an Error or an errors.Join of them, sorted
// by their place in the file; nil when there are none.
func (c *Config) errorOf(probs []problem) error {
	if len(probs) == 0 {
		return nil
	}
	s := c.src
	if s != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
	}
	type placed struct {
		problem
		at  int
		str string
	}
	ps := make([]placed, len(probs))
	for i, p := range probs {
		ps[i] = placed{p, -1, toml.Key(p.key).String()}
		if s != nil {
			ps[i].at = s.index(p.key)
		}
		if ps[i].at < 0 {
			ps[i].at = math.MaxInt // absent keys after the present ones
		}
	}
	slices.SortStableFunc(ps, func(a, b placed) int {
		return cmp.Or(cmp.Compare(a.at, b.at), strings.Compare(a.str, b.str))
	})
	var name string
	if s != nil {
		name = s.name
	}
	var errs []error
	for i, p := range ps {
		if i == maxErrors {
			errs = append(errs, &Error{File: name, Msg: fmt.Sprintf("%d more problems", len(ps)-i)})
			break
		}
		e := &Error{File: name, Key: p.str, Msg: p.msg}
		if p.at != math.MaxInt {
			e.Line = s.line(p.key)
		}
		errs = append(errs, e)
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// parse decodes data over the defaults in base.
func parse(name string, data []byte, base *Config) (*Config, error) {
	var top map[string]any
	if _, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&top); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{File: name, Line: pe.Position.Line, Msg: pe.Message}
		}
		return nil, &Error{File: name, Msg: err.Error()}
	}
	c := *base
	c.SiteConfigs = nil
	c.src = &source{name: name, data: data}
	d := new(decoder)
	d.root(&c, &table{m: top})

	probs := d.probs
	bad := make(map[string]bool, len(probs))
	for _, p := range probs {
		bad[toml.Key(p.key).String()] = true
	}
	// A value that could not be decoded left its default in place, which
	// must not be blamed for it.
	for _, p := range c.problems() {
		if !bad[toml.Key(p.key).String()] {
			probs = append(probs, p)
		}
	}
	if err := c.errorOf(probs); err != nil {
		return nil, err
	}
	return &c, nil
}

// decoder reads the file's tables into a Config by hand rather than by
// struct tags, because the TOML decoder matches struct fields without
// regard to case, which would let MAX_SPAM and max_spam in one table
// silently fight over one field.
type decoder struct {
	probs []problem
}

type table struct {
	key   []string
	m     map[string]any
	known []string
}

func (t *table) path(key string) []string {
	return append(slices.Clip(t.key), key)
}

func (d *decoder) fail(key []string, format string, args ...any) {
	d.probs = append(d.probs, problem{key, fmt.Sprintf(format, args...)})
}

// value returns the TOML value of key in t: string, int64, float64, bool,
// a datetime, []any, map[string]any or []map[string]any. It also makes key
// known in t.
func (d *decoder) value(t *table, key string) (any, bool) {
	t.known = append(t.known, key)
	v, ok := t.m[key]
	return v, ok
}

// unknown reports the keys of t that no one asked for.
func (d *decoder) unknown(t *table) {
	for _, k := range slices.Sorted(maps.Keys(t.m)) {
		if !slices.Contains(t.known, k) {
			d.fail(t.path(k), "unknown key")
		}
	}
}

// typeName names a TOML value's type as the TOML specification does.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	}
	return "a datetime"
}

func (d *decoder) sub(t *table, key string) *table {
	v, ok := d.value(t, key)
	if !ok {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		d.fail(t.path(key), "must be a table, not %s", typeName(v))
		return nil
	}
	return &table{key: t.path(key), m: m}
}

func (d *decoder) str(t *table, key string, dst *string) bool {
	v, ok := d.value(t, key)
	if !ok {
		return false
	}
	s, ok := v.(string)
	if !ok {
		d.fail(t.path(key), "must be a string, not %s", typeName(v))
		return false
	}
	*dst = s
	return true
}

func (d *decoder) boolean(t *table, key string, dst *bool) bool {
	v, ok := d.value(t, key)
	if !ok {
		return false
	}
	b, ok := v.(bool)
	if !ok {
		d.fail(t.path(key), "must be true or false, not %s", typeName(v))
		return false
	}
	*dst = b
	return true
}

func (d *decoder) int64(t *table, key string, dst *int64) bool {
	v, ok := d.value(t, key)
	if !ok {
		return false
	}
	n, ok := v.(int64)
	if !ok {
		d.fail(t.path(key), "must be an integer, not %s", typeName(v))
		return false
	}
	*dst = n
	return true
}

func (d *decoder) int(t *table, key string, dst *int) bool {
	var n int64
	if !d.int64(t, key, &n) {
		return false
	}
	if int64(int(n)) != n {
		d.fail(t.path(key), "%d is out of range", n)
		return false
	}
	*dst = int(n)
	return true
}

// float takes integers too: spam_score = 5 means 5.0.
func (d *decoder) float(t *table, key string, dst *float64) bool {
	v, ok := d.value(t, key)
	if !ok {
		return false
	}
	switch f := v.(type) {
	case float64:
		*dst = f
	case int64:
		*dst = float64(f)
	default:
		d.fail(t.path(key), "must be a number, not %s", typeName(v))
		return false
	}
	return true
}

func (d *decoder) duration(t *table, key string, dst *time.Duration) bool {
	v, ok := d.value(t, key)
	if !ok {
		return false
	}
	s, ok := v.(string)
	if !ok {
		d.fail(t.path(key), `must be a duration in a string, such as "90s", "15m" or "120h", not %s`, typeName(v))
		return false
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		d.fail(t.path(key), `%q is not a duration such as "90s", "15m" or "120h" (there is no unit for days)`, s)
		return false
	}
	*dst = dur
	return true
}

// count reads a policy's count, "recipients" or "messages".
func (d *decoder) count(t *table, key string, dst *spamrun.Count) bool {
	var s string
	if !d.str(t, key, &s) {
		return false
	}
	c, err := spamrun.ParseCount(s)
	if err != nil {
		d.fail(t.path(key), `must be "recipients" or "messages", not %q`, s)
		return false
	}
	*dst = c
	return true
}

func (d *decoder) strings(t *table, key string, dst *[]string) bool {
	v, ok := d.value(t, key)
	if !ok {
		return false
	}
	arr, ok := v.([]any)
	if !ok {
		d.fail(t.path(key), "must be an array of strings, not %s", typeName(v))
		return false
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			d.fail(t.path(key), "element %d must be a string, not %s", i+1, typeName(e))
			return false
		}
		out = append(out, s)
	}
	*dst = out
	return true
}

func (d *decoder) root(c *Config, t *table) {
	d.str(t, "state_dir", &c.StateDir)
	d.str(t, "spool_dir", &c.SpoolDir)
	d.str(t, "article_url", &c.ArticleURL)
	d.str(t, "hostname", &c.Hostname)
	d.int64(t, "max_message_size", &c.MaxMessageSize)
	d.duration(t, "queue_lifetime", &c.QueueLifetime)
	d.boolean(t, "syslog", &c.Syslog)
	d.str(t, "egress", &c.Egress)

	hasHelo := false
	if r := d.sub(t, "relay"); r != nil {
		hasSMTP := d.str(r, "smtp", &c.Relay.SMTP)
		if d.str(r, "command", &c.Relay.Command) && c.Relay.Command != "" && !hasSMTP {
			c.Relay.SMTP = ""
		}
		d.str(r, "starttls", &c.Relay.StartTLS)
		d.str(r, "username", &c.Relay.Username)
		d.str(r, "password", &c.Relay.Password)
		d.duration(r, "timeout", &c.Relay.Timeout)
		hasHelo = d.str(r, "helo", &c.Relay.Helo)
		d.int(r, "max_recipients", &c.Relay.MaxRecipients)
		d.unknown(r)
	}
	if !hasHelo {
		c.Relay.Helo = c.Hostname
	}

	if q := d.sub(t, "queue"); q != nil {
		d.duration(q, "interval", &c.Queue.Interval)
		d.int(q, "max_rate", &c.Queue.MaxRate)
		d.duration(q, "rate_interval", &c.Queue.RateInterval)
		d.int(q, "max_bounces", &c.Queue.MaxBounces)
		d.duration(q, "quarantine_for", &c.Queue.QuarantineFor)
		d.unknown(q)
	}

	if sd := d.sub(t, "smtpd"); sd != nil {
		d.strings(sd, "listen", &c.SMTPD.Listen)
		d.str(sd, "socket", &c.SMTPD.Socket)
		d.str(sd, "sendmail_socket", &c.SMTPD.SendmailSocket)
		d.strings(sd, "trusted_users", &c.SMTPD.TrustedUsers)
		d.str(sd, "trusted", &c.SMTPD.Trusted)
		d.int(sd, "max_connections", &c.SMTPD.MaxConnections)
		d.int(sd, "max_recipients", &c.SMTPD.MaxRecipients)
		d.duration(sd, "command_timeout", &c.SMTPD.CommandTimeout)
		d.unknown(sd)
	}

	if m := d.sub(t, "metrics"); m != nil {
		d.str(m, "listen", &c.Metrics.Listen)
		d.int(m, "max_sites", &c.Metrics.MaxSites)
		d.unknown(m)
	}

	if p := d.sub(t, "policy"); p != nil {
		d.float(p, "spam_score", &c.DefaultPolicy.SpamScore)
		d.int(p, "max_spam", &c.DefaultPolicy.MaxSpam)
		d.duration(p, "window", &c.DefaultPolicy.Window)
		d.duration(p, "hold_for", &c.DefaultPolicy.HoldFor)
		d.count(p, "count", &c.DefaultPolicy.Count)
		d.unknown(p)
	}

	if s := d.sub(t, "scorer"); s != nil {
		d.str(s, "kind", &c.Scorer.Kind)
		d.str(s, "address", &c.Scorer.Address)
		d.duration(s, "timeout", &c.Scorer.Timeout)
		d.unknown(s)
	}

	if s := d.sub(t, "store"); s != nil {
		d.str(s, "kind", &c.Store.Kind)
		d.str(s, "url", &c.Store.URL)
		d.str(s, "tls_ca", &c.Store.TLSCA)
		d.str(s, "tls_cert", &c.Store.TLSCert)
		d.str(s, "tls_key", &c.Store.TLSKey)
		d.unknown(s)
	}

	if e := d.sub(t, "enforce"); e != nil {
		d.str(e, "command", &c.Enforce.Command)
		d.str(e, "enable_command", &c.Enforce.EnableCommand)
		d.str(e, "webhook", &c.Enforce.Webhook)
		d.str(e, "webhook_secret", &c.Enforce.WebhookSecret)
		d.duration(e, "command_timeout", &c.Enforce.CommandTimeout)
		d.duration(e, "webhook_timeout", &c.Enforce.WebhookTimeout)
		d.int(e, "webhook_retries", &c.Enforce.WebhookRetries)
		d.unknown(e)
	}

	if n := d.sub(t, "notify"); n != nil {
		d.strings(n, "operator", &c.Notify.Operator)
		d.str(n, "from", &c.Notify.From)
		d.str(n, "language", &c.Notify.Language)
		d.str(n, "templates", &c.Notify.Templates)
		d.unknown(n)
	}

	if sites := d.sub(t, "sites"); sites != nil {
		c.SiteConfigs = make(map[string]SiteConfig, len(sites.m))
		for _, name := range slices.Sorted(maps.Keys(sites.m)) {
			if s := d.sub(sites, name); s != nil {
				c.SiteConfigs[name] = d.site(s)
			}
		}
	}
	d.unknown(t)
}

func (d *decoder) site(t *table) SiteConfig {
	var s SiteConfig
	if d.str(t, "user", &s.User) && s.User == "" {
		d.fail(t.path("user"), `must not be empty; leave it out to mean the site's name`)
	}
	var uid int
	if d.int(t, "uid", &uid) {
		s.UID = &uid
	}
	d.strings(t, "domains", &s.Domains)
	d.strings(t, "smtp_allow", &s.SMTPAllow)
	var score float64
	if d.float(t, "spam_score", &score) {
		s.SpamScore = &score
	}
	var maxSpam int
	if d.int(t, "max_spam", &maxSpam) {
		s.MaxSpam = &maxSpam
	}
	var window, holdFor time.Duration
	if d.duration(t, "window", &window) {
		s.Window = &window
	}
	if d.duration(t, "hold_for", &holdFor) {
		s.HoldFor = &holdFor
	}
	var count spamrun.Count
	if d.count(t, "count", &count) {
		s.Count = &count
	}
	d.boolean(t, "exempt", &s.Exempt)
	d.strings(t, "contact", &s.Contact)
	if d.str(t, "language", &s.Language) && s.Language == "" {
		d.fail(t.path("language"), `must not be empty; leave it out to mean notify.language`)
	}
	d.unknown(t)
	return s
}

// trimErr drops the package prefix of an error from the root package,
// which would sit oddly after a file name and key.
func trimErr(err error) string {
	return strings.TrimPrefix(err.Error(), "spamrun: ")
}
