package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"strings"
	"time"
	"unicode"

	"github.com/spamrun/spamrun/internal/host"
	"github.com/spamrun/spamrun/report"
)

// openHost loads the configuration and opens the installation, logging
// to syslog under tag when the configuration says so and to logw when it
// is not nil.
func (e *env) openHost(tag string, logw io.Writer) (*host.Host, func(), error) {
	var also func(string)
	if logw != nil {
		also = func(line string) { fmt.Fprintln(logw, e.now().Format(time.DateTime), line) }
	}
	return e.openHostLog(tag, also, nil)
}

// openHostLog is openHost with each log line handed to also, when it is
// not nil, and the detector's records to logger.
func (e *env) openHostLog(tag string, also func(line string), logger *slog.Logger) (*host.Host, func(), error) {
	cfg, err := e.loadConfig()
	if err != nil {
		return nil, nil, err
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
		if also != nil {
			also(line)
		}
	}
	h, err := host.Open(cfg, &host.Options{Now: e.now, Logf: logf, Logger: logger})
	if err != nil {
		if sl != nil {
			sl.Close()
		}
		if errors.Is(err, host.ErrSpool) {
			return nil, nil, err
		}
		return nil, nil, misconfigured(err) // the relay as configured cannot be used
	}
	closer := func() {
		h.Close()
		if sl != nil {
			sl.Close()
		}
	}
	return h, closer, nil
}

// openStoreHost is openHost for a command that cannot do without the
// state store.
func (e *env) openStoreHost() (*host.Host, func(), error) {
	h, closeHost, err := e.openHost("", nil)
	if err != nil {
		return nil, nil, err
	}
	if err := needStore(h); err != nil {
		closeHost()
		return nil, nil, err
	}
	return h, closeHost, nil
}

// needStore returns the error of a host without its state store.
func needStore(h *host.Host) error {
	if h.Detector == nil {
		return unavailable(fmt.Errorf("the state store is unavailable: %w", h.StoreErr))
	}
	return nil
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
