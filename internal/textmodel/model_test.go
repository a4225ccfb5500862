package textmodel

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEmbeddedModel(t *testing.T) {
	start := time.Now()
	m, err := Load(Embedded())
	d := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes, %d features, %d ham, %d spam, generator %s, inputs %x, loaded in %v",
		len(Embedded()), m.Features(), m.Ham, m.Spam, m.Generator, m.InputHash[:8], d)
	if !strings.HasPrefix(m.Generator, "textmodel-gen/") || m.Ham < 2500 || m.Spam < 500 {
		t.Errorf("header: %+v", m.Header)
	}
	spam := m.SpamProbability(slices.Values(strings.Fields("click here to order viagra online cheap pills no prescription free money remove")))
	ham := m.SpamProbability(slices.Values(strings.Fields("thank you for your order it has been shipped with dhl tracking number and invoice attached")))
	dev := m.SpamProbability(slices.Values(strings.Fields("thanks for the patch i applied it to cvs and the build works on my machine")))
	// Below 0.6 the model adds no points: neither ham text may get any.
	if !(spam > 0.9 && ham < 0.6 && dev < 0.6) {
		t.Errorf("spam text %.3f, shop text %.3f, developer text %.3f", spam, ham, dev)
	}
}

func TestLoadRejectsDamage(t *testing.T) {
	file := Embedded()
	for _, n := range []int{0, 3, 10, 60, len(file) / 2, len(file) - 1} {
		if _, err := Load(file[:n]); err == nil {
			t.Errorf("truncated to %d bytes: loaded", n)
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		if _, err := Load(Embedded()); err != nil {
			b.Fatal(err)
		}
	}
}
