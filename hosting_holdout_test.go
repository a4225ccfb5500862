package spamrun_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamruntest"
)

// TestHostingHoldout holds the shipped scorer to testdata/hosting: mail as
// PHP websites send it, written for measurement only and never used to
// train the model or weigh a rule. Every ham message must stay under the
// default spam score, and at most maxHam: a false positive here is a
// disabled shop, and one near the threshold is the next one.
//
// Spam recall is logged and held to a floor that catches regressions.
// The aim is 0.95; the scorer reaches 0.89 on 95 messages in 16
// languages, missing mostly short contact-form messages with few or no
// links (dating, loans, inheritance stories, a parcel fee) in languages
// with few training messages.
func TestHostingHoldout(t *testing.T) {
	threshold := spamrun.DefaultPolicy().SpamScore
	const (
		minRecall = 0.85
		maxHam    = 3.5
	)
	scorer := spamrun.NewBuiltinScorer()
	ctx := context.Background()

	score := func(path string) (spamrun.Score, bool) {
		t.Helper()
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(path)
		if err := holdoutCheckMIME(raw); err != nil {
			t.Errorf("%s: does not parse: %v", name, err)
			return spamrun.Score{}, false
		}
		// The envelope sendmail -t would use, as for the canned samples.
		msg, err := spamruntest.ParseSample(raw)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return spamrun.Score{}, false
		}
		s, err := scorer.Score(ctx, msg)
		if err != nil {
			t.Errorf("%s: Score: %v", name, err)
			return spamrun.Score{}, false
		}
		return s, true
	}

	ham := holdoutFiles(t, "ham")
	hamMax, hamMaxFile, hamFP := 0.0, "", 0
	for _, path := range ham {
		s, ok := score(path)
		if !ok {
			continue
		}
		name := filepath.Base(path)
		t.Logf("ham  %6.2f %s %s", s.Value, name, holdoutRules(s))
		if s.Value > hamMax || hamMaxFile == "" {
			hamMax, hamMaxFile = s.Value, name
		}
		if s.Value >= threshold {
			hamFP++
			t.Errorf("ham %s scored %.2f ≥ %.1f: %s", name, s.Value, threshold, holdoutRules(s))
		}
	}

	spam := holdoutFiles(t, "spam")
	var caught int
	var missed []string
	for _, path := range spam {
		s, ok := score(path)
		name := filepath.Base(path)
		if !ok {
			missed = append(missed, name+" (not scored)")
			continue
		}
		t.Logf("spam %6.2f %s %s", s.Value, name, holdoutRules(s))
		if s.Value >= threshold {
			caught++
		} else {
			missed = append(missed, fmt.Sprintf("%s %.2f: %s", name, s.Value, holdoutRules(s)))
		}
	}
	if hamMax > maxHam {
		t.Errorf("ham %s scored %.2f, above %.1f", hamMaxFile, hamMax, maxHam)
	}
	recall := float64(caught) / float64(len(spam))
	t.Logf("summary: ham %d, false positives %d, max score %.2f (%s); spam %d, caught %d, recall %.3f",
		len(ham), hamFP, hamMax, hamMaxFile, len(spam), caught, recall)
	if recall < minRecall {
		t.Errorf("spam recall %.3f < %.2f; missed:\n\t%s", recall, minRecall, strings.Join(missed, "\n\t"))
	}
}

func holdoutFiles(t *testing.T, class string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "hosting", class, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no testdata/hosting/%s/*.eml", class)
	}
	return files
}

func holdoutRules(s spamrun.Score) string {
	var b strings.Builder
	for i, r := range s.Top(8) {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%.2f", r.Name, r.Points)
	}
	return b.String()
}

// holdoutCheckMIME parses raw strictly: header, every multipart boundary, every
// base64 and quoted-printable body, and the encoded words of Subject and From.
func holdoutCheckMIME(raw []byte) error {
	if n := bytes.Count(raw, []byte("\r\n")); n > 0 && n != bytes.Count(raw, []byte("\n")) {
		return fmt.Errorf("mixed line endings")
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	dec := holdoutWordDecoder()
	for _, h := range []string{"Subject", "From", "To"} {
		if m.Header.Get(h) == "" {
			return fmt.Errorf("no %s header", h)
		}
		if _, err := dec.DecodeHeader(m.Header.Get(h)); err != nil {
			return fmt.Errorf("%s: %w", h, err)
		}
	}
	return holdoutCheckPart(m.Header, m.Body, 0)
}

// holdoutWordDecoder reads encoded words in any charset; only their
// syntax is checked here, their text is ParseMessage's business.
func holdoutWordDecoder() *mime.WordDecoder {
	return &mime.WordDecoder{CharsetReader: func(_ string, input io.Reader) (io.Reader, error) { return input, nil }}
}

type holdoutHeader interface{ Get(string) string }

func holdoutCheckPart(h holdoutHeader, body io.Reader, depth int) error {
	if depth > 5 {
		return fmt.Errorf("nested too deep")
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	media, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("Content-Type %q: %w", ct, err)
	}
	if strings.HasPrefix(media, "multipart/") {
		boundary := params["boundary"]
		if boundary == "" {
			return fmt.Errorf("%s without boundary", media)
		}
		mr := multipart.NewReader(body, boundary)
		n := 0
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("%s part %d: %w", media, n+1, err)
			}
			if err := holdoutCheckPart(p.Header, p, depth+1); err != nil {
				return fmt.Errorf("%s part %d: %w", media, n+1, err)
			}
			n++
		}
		if n == 0 {
			return fmt.Errorf("%s with no parts", media)
		}
		return nil
	}
	var r io.Reader
	switch cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))); cte {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &holdoutStripSpace{r: bufio.NewReader(body)})
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "", "7bit", "8bit", "binary":
		r = body
	default:
		return fmt.Errorf("unknown Content-Transfer-Encoding %q", cte)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("%s body: %w", media, err)
	}
	return nil
}

// holdoutStripSpace drops the line breaks base64 bodies are wrapped with.
type holdoutStripSpace struct{ r *bufio.Reader }

func (s *holdoutStripSpace) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c, err := s.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if c == '\r' || c == '\n' || c == ' ' || c == '\t' {
			continue
		}
		p[n] = c
		n++
	}
	return n, nil
}
