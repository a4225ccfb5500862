package main

import (
	"errors"
	"fmt"
	"io"
	"log/syslog"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/spamrun/spamrun/config"
	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/report"
)

// openHost loads the configuration and opens the installation, logging
// to syslog under tag when the configuration says so and to logw when it
// is not nil. On failure it has reported the error and returns the exit
// status.
func openHost(tag string, logw, stderr io.Writer) (*host.Host, func(), int) {
	cfg, err := config.LoadDefault(os.Getenv, false)
	if err != nil {
		fmt.Fprintln(stderr, "spamrun:", err)
		return nil, nil, exitConfig
	}
	var sl *syslog.Writer
	if cfg.Syslog && tag != "" {
		sl, _ = syslog.New(syslog.LOG_MAIL|syslog.LOG_INFO, tag)
	}
	logf := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		if sl != nil {
			sl.Info(line)
		}
		if logw != nil {
			fmt.Fprintln(logw, time.Now().Format(time.DateTime), line)
		}
	}
	h, err := host.Open(cfg, &host.Options{Logf: logf})
	if err != nil {
		if sl != nil {
			sl.Close()
		}
		fmt.Fprintln(stderr, "spamrun:", err)
		if errors.Is(err, host.ErrSpool) {
			return nil, nil, exitTempErr
		}
		return nil, nil, exitConfig // the relay as configured cannot be used
	}
	closer := func() {
		h.Close()
		if sl != nil {
			sl.Close()
		}
	}
	return h, closer, exitOK
}

// needStore reports, with the exit status, that a command cannot do
// without the state store.
// openStoreHost is openHost for a command that needs the state store.
func openStoreHost(stderr io.Writer) (*host.Host, func(), int) {
	h, closeHost, code := openHost("", nil, stderr)
	if h == nil {
		return nil, nil, code
	}
	if code, ok := needStore(h, stderr); !ok {
		closeHost()
		return nil, nil, code
	}
	return h, closeHost, 0
}

func needStore(h *host.Host, stderr io.Writer) (int, bool) {
	if h.Detector == nil {
		fmt.Fprintln(stderr, "spamrun: the state store is unavailable:", h.StoreErr)
		return exitTempErr, false
	}
	return 0, true
}

// timeLayout is how tables show instants: local time to the second, which
// is what an operator compares with the logs.
const timeLayout = "2006-01-02 15:04:05"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(timeLayout)
}

// fmtDuration writes the durations of a configuration as they are
// written there: "1h", "15m", "1h30m", not "1h0m0s".
func fmtDuration(d time.Duration) string { return report.ShortDuration(d) }

// cell makes text written by websites or relays safe for one table cell:
// a control character or tab would break the line or the columns.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
}

// sender writes an envelope sender as mailq does, the null one as <>.
func sender(s string) string {
	if s == "" {
		return "<>"
	}
	return cell(s)
}
