package train

import (
	"bytes"
	"net/mail"
	"testing"
)

// TestMessagesParse checks that every training message is a message with
// the headers a PHP site's mail has, so that a broken file is found here,
// not as a silently weaker model.
func TestMessagesParse(t *testing.T) {
	msgs := All()
	if len(msgs) == 0 {
		t.Fatal("no training messages embedded")
	}
	for _, m := range msgs {
		r, err := mail.ReadMessage(bytes.NewReader(m.Raw))
		if err != nil {
			t.Errorf("%s: %v", m.Name, err)
			continue
		}
		for _, h := range []string{"From", "To", "Subject"} {
			if r.Header.Get(h) == "" {
				t.Errorf("%s: no %s header", m.Name, h)
			}
		}
	}
}

func TestParseName(t *testing.T) {
	for _, tc := range []struct{ name, kind, lang string }{
		{"order-de-03", "order", "de"},
		{"parcel-fee-zip-en-12", "parcel-fee-zip", "en"},
		{"seo-mixed-01", "seo", "mixed"},
	} {
		kind, lang, err := ParseName(tc.name)
		if err != nil || kind != tc.kind || lang != tc.lang {
			t.Errorf("ParseName(%q) = %q, %q, %v; want %q, %q", tc.name, kind, lang, err, tc.kind, tc.lang)
		}
	}
	for _, bad := range []string{"order", "order-03", "order-DE-03", "order-deu-03"} {
		if _, _, err := ParseName(bad); err == nil {
			t.Errorf("ParseName(%q) succeeded", bad)
		}
	}
}
