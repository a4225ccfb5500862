// Package train holds the hosting mail the text model learns from besides
// the SpamAssassin corpus: messages written for this project, as hosted
// websites send them and as spammers send them through abused forms and
// uploaded mailers, in many languages.
//
// Each file is named KIND-LANG-NN.eml under ham/ or spam/: KIND what the
// message is (order, newsletter, sextortion, parcel-fee …), LANG its
// language as an ISO 639-1 code, or "mixed". Every domain is a reserved
// example domain or an invented one; no message is a real person's mail.
//
// These messages are training data. The hold-out sets (the corpus groups
// easy-ham-2, hard-ham-1 and spam-2, and testdata/hosting) are written
// and kept apart from them.
package train

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

//go:embed ham spam
var files embed.FS

// Message is one training message.
type Message struct {
	Name string // file name without .eml, e.g. "order-de-03"
	Kind string // e.g. "order"
	Lang string // e.g. "de"
	Spam bool   // it is under spam/
	Raw  []byte
}

var all = func() []Message {
	var list []Message
	for _, dir := range []string{"ham", "spam"} {
		entries, err := fs.ReadDir(files, dir)
		if err != nil {
			panic("train: " + err.Error())
		}
		for _, e := range entries {
			name, ok := strings.CutSuffix(e.Name(), ".eml")
			if !ok {
				continue
			}
			kind, lang, err := ParseName(name)
			if err != nil {
				panic("train: " + dir + "/" + e.Name() + ": " + err.Error())
			}
			raw, err := fs.ReadFile(files, path.Join(dir, e.Name()))
			if err != nil {
				panic("train: " + err.Error())
			}
			list = append(list, Message{Name: name, Kind: kind, Lang: lang, Spam: dir == "spam", Raw: raw})
		}
	}
	return list
}()

// All returns every training message, ham first, each group sorted by
// name. The Raw slices are shared; do not modify them.
func All() []Message { return slices.Clone(all) }

// ParseName splits a file name (without .eml) of the form KIND-LANG-NN,
// where KIND may itself hold dashes, into its kind and language.
func ParseName(name string) (kind, lang string, err error) {
	parts := strings.Split(name, "-")
	if len(parts) < 3 {
		return "", "", fmt.Errorf("name %q is not KIND-LANG-NN", name)
	}
	n := len(parts)
	lang = parts[n-2]
	if !isLang(lang) {
		return "", "", fmt.Errorf("name %q: %q is not a language code", name, lang)
	}
	return strings.Join(parts[:n-2], "-"), lang, nil
}

func isLang(s string) bool {
	if s == "mixed" {
		return true
	}
	if len(s) != 2 {
		return false
	}
	for _, c := range s {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}
