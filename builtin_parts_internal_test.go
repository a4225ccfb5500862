package spamrun

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// deflated returns b compressed as a FlateDecode stream holds it.
func deflated(b string) string {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write([]byte(b))
	w.Close()
	return buf.String()
}

// pdfWith returns a PDF whose one page has the content stream cs.
func pdfWith(dict, cs string) []byte {
	return []byte("%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n" +
		"4 0 obj\n<<" + dict + ">>\nstream\n" + cs + "\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
}

func TestPDFText(t *testing.T) {
	invoice, err := os.ReadFile("testdata/parts/invoice.pdf")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		pdf  []byte
		max  int
		want string
	}{
		{"FPDF invoice", invoice, 64 << 10, "Rechnung Nr. 2026-10482 Rechnungsdatum: 02.11.2026 Kunde: Maria Müller, Lindenweg 4, 50667 Köln"},
		{"literal strings with escapes", pdfWith("/Length 60", `BT /F1 12 Tf 72 700 Td (Hello \(big\) W\157rld\\) Tj T* [(Ka)-20(rl)-300(Marx)] TJ ET`), 100, `Hello (big) World\ Karl Marx`},
		{"hex and UTF-16 strings", pdfWith("/Filter /FlateDecode", deflated(`BT <48656C6C6F> Tj 0 -14 Td <FEFF00FC0062006520AC> Tj ET`)), 100, "Hello übe€"},
		{"glyph numbers are left out", pdfWith("", `BT <0012002C0033> Tj (ok) Tj ET`), 100, "ok"},
		{"WinAnsi quotes", pdfWith("", "BT (\x93quoted\x94) ' ET"), 100, "“quoted”"},
		{"cut at max", pdfWith("", `BT (abcdefghij) Tj ET`), 4, "abcd"},
		{"images are not read", pdfWith("/Subtype /Image /Filter /DCTDecode", `BT (no) Tj ET`), 100, ""},
		{"inline image data skipped", pdfWith("", "BI /W 1 ID ((( Tj EI BT (after) Tj ET"), 100, "after"},
		{"corrupt deflate keeps nothing", pdfWith("/Filter /FlateDecode", "x\x9c\xff\xff garbage"), 100, ""},
	} {
		got, _ := pdfText(tt.pdf, tt.max)
		if !strings.Contains(got, tt.want) || tt.want == "" && got != "" {
			t.Errorf("%s: pdfText = %q, want it to hold %q", tt.name, got, tt.want)
		}
		if len(got) > tt.max {
			t.Errorf("%s: %d bytes, more than %d", tt.name, len(got), tt.max)
		}
	}
}

// TestPDFTextBomb gives a stream that inflates without end and a PDF of
// very many streams: the work stops at the bounds.
func TestPDFTextBomb(t *testing.T) {
	bomb := pdfWith("/Filter /FlateDecode", deflated("BT ("+strings.Repeat("a", 16<<20)+") Tj ET"))
	var many bytes.Buffer
	for range 100_000 {
		many.WriteString("<</Length 9>>stream\nBT (x) Tj ET\nendstream\n")
	}
	for name, pdf := range map[string][]byte{
		"bomb":           bomb,
		"many streams":   many.Bytes(),
		"dictionaries":   bytes.Repeat([]byte("<<>>stream\n"), 1<<20),
		"open strings":   append([]byte("<<>>stream\n"), bytes.Repeat([]byte("(\\"), 4<<20)...),
		"strings, no Tj": append([]byte("<<>>stream\n"), bytes.Repeat([]byte("(a)<61>"), 2<<20)...),
		"operators":      append([]byte("<<>>stream\n"), bytes.Repeat([]byte("(ab) Tj T* "), 1<<20)...),
		"inline images":  append([]byte("<<>>stream\n"), bytes.Repeat([]byte("BI ID x"), 1<<20)...),
	} {
		start := time.Now()
		got, work := pdfText(pdf, 1<<20)
		d := time.Since(start)
		t.Logf("%s: %d bytes of text in %v, %d bytes of work", name, len(got), d, work)
		if work > maxPDFScan+maxPDFInflate {
			t.Errorf("%s: %d bytes of work", name, work)
		}
		if d > 2*time.Second {
			t.Errorf("%s: %v", name, d)
		}
		if len(got) > 1<<20 {
			t.Errorf("%s: %d bytes of text", name, len(got))
		}
	}
}

func FuzzPDFText(f *testing.F) {
	for _, name := range []string{"invoice.pdf", "spam.pdf"} {
		b, err := os.ReadFile("testdata/parts/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(pdfWith("", `BT (a\) Tj [(b) -300 <6364> 12 (e)] TJ (f) ' 1 2 (g) " ET`))
	f.Add(pdfWith("/Filter /FlateDecode", deflated(`BT <FEFF00e4> Tj (\101\1\12 Tj ET`)))
	f.Add([]byte("<<>>stream\r\n(((((\\"))
	f.Add([]byte("endstream stream >> stream <<>>stream\n<"))
	f.Fuzz(func(t *testing.T, pdf []byte) {
		for _, max := range []int{0, 7, 64 << 10} {
			got, _ := pdfText(pdf, max)
			if len(got) > max {
				t.Fatalf("%d bytes of text, max %d", len(got), max)
			}
			if !utf8.ValidString(got) {
				t.Fatalf("text is not UTF-8: %q", got)
			}
		}
	})
}

// TestZipBounds gives archives that announce too many entries and that
// hold more archives than are unpacked: the scan reads what its bounds
// allow and stops.
func TestZipBounds(t *testing.T) {
	archive := func(method uint16, names []string, content func(i int) []byte) []byte {
		var b bytes.Buffer
		w := zip.NewWriter(&b)
		for i, n := range names {
			f, err := w.CreateHeader(&zip.FileHeader{Name: n, Method: method})
			if err != nil {
				t.Fatal(err)
			}
			f.Write(content(i))
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	empty := func(int) []byte { return nil }

	many := make([]string, maxZipDir+1)
	for i := range many {
		many[i] = fmt.Sprintf("f%d.exe", i)
	}
	big := archive(zip.Store, many, empty)
	if n := zipEntries(big); n != maxZipDir+1 {
		t.Errorf("zipEntries = %d, want %d", n, maxZipDir+1)
	}
	t1 := getScan()
	defer putScan(t1)
	f := partFacts{work: maxPartWork}
	t1.textBudget = maxPartText
	t1.scanZip(&f, big, false)
	if len(f.inArchive) > 0 {
		t.Errorf("an archive of %d entries was read: %v", len(many), f.inArchive)
	}

	// An archive of archives, each a megabyte of zeros, stored, and an
	// executable: only maxPartWork of them are unpacked.
	inner := archive(zip.Store, []string{"pad.bin", "x.exe"}, func(i int) []byte { return make([]byte, (1<<20)*(1-i)) })
	names := make([]string, 50)
	for i := range names {
		names[i] = fmt.Sprintf("part%d.zip", i)
	}
	outer := archive(zip.Deflate, names, func(int) []byte { return inner })
	t2 := getScan()
	defer putScan(t2)
	f = partFacts{work: maxPartWork}
	t2.textBudget = maxPartText
	t2.scanZip(&f, outer, false)
	if len(f.inArchive) != 1 || f.inArchive[0] != "x.exe" {
		t.Errorf("executables in the inner archives: %v, want x.exe", f.inArchive)
	}
	if f.work > 0 || f.work < -len(inner) {
		t.Errorf("work left %d, want the budget spent and no more than one archive beyond it", f.work)
	}
}
