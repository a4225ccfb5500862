package spamrun

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/zlib"
	"io"
	"path"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Bounds on what is read of a message's parts, beyond the body's own
// maxScanText and maxScanHTML: spam moved into an attachment is read like
// spam in the body, and a message of many large parts costs no more than
// a few large bodies.
const (
	maxPartText   = 192 << 10 // text of all parts together, subject and body excluded
	maxPartHTML   = 256 << 10 // HTML of all parts together
	maxZipBytes   = 32 << 20  // an archive larger than this is not opened
	maxZipEntries = 100       // names read from one archive
	maxNestedZip  = 4 << 20   // uncompressed size of an archive inside an archive that is opened
	maxPDFScan    = 8 << 20   // bytes of a PDF searched for content streams
	maxPDFStreams = 512       // content streams of one PDF
	maxPDFInflate = 4 << 20   // bytes one PDF's streams inflate to, together
	maxPartWork   = 16 << 20  // bytes of PDFs searched and inflated and of archives unpacked, for all parts together
	maxZipDir     = 10000     // entries in an archive's directory; one with more is not opened
)

// partFacts is what the parts of a message showed, for the attachment
// rules.
type partFacts struct {
	forwarded  []Attachment // attachments of forwarded messages
	inArchive  []string     // executables inside archives
	doubleExt  []string     // … of them named like a document
	encrypted  bool         // an encrypted archive entry
	gtube      bool
	htmlBudget int
	work       int // what is left of maxPartWork
}

// scanParts reads the text of every part Message.Parts yields as the body
// is read: text parts, HTML parts and attachments, the text of PDFs, the
// names inside zip archives, and forwarded messages with their subject.
// Call it after the body's text and before matchPhrases.
func (t *textScan) scanParts(m *Message, own ownDomains) partFacts {
	f := partFacts{htmlBudget: maxPartHTML, work: maxPartWork}
	t.textBudget = maxPartText
	for p := range m.Parts() {
		if t.textBudget <= 0 && f.htmlBudget <= 0 {
			break
		}
		if p.Depth > 0 && p.Name != "" {
			f.forwarded = append(f.forwarded, Attachment{Name: p.Name, ContentType: p.MediaType, Size: len(p.Content)})
		}
		if p.Subject != "" {
			t.addPartText(&f, p.Subject)
		}
		_, ext := fileExt(p.Name)
		switch {
		case htmlPart(p.MediaType, ext):
			t.addHTMLPart(&f, p.Content, own)
		case p.MediaType == "text/plain" || ext == "txt" || p.MediaType == "text/csv" || ext == "csv":
			t.addPartText(&f, string(p.Content[:min(len(p.Content), t.textBudget)]))
		case p.MediaType == "application/pdf" || ext == "pdf":
			if t.textBudget > 0 && f.work > 0 {
				text, work := pdfText(p.Content, t.textBudget)
				f.work -= work
				t.addPartText(&f, text)
			}
		case archiveExts[ext] || archiveTypes[p.MediaType]:
			t.scanZip(&f, p.Content, false)
		}
	}
	return f
}

// htmlPart reports whether a part of this media type or file extension is
// a page a browser shows, with text and links: HTML, or SVG, which can
// hold both.
func htmlPart(mediaType, ext string) bool {
	switch {
	case mediaType == "text/html" || mediaType == "application/xhtml+xml" || mediaType == "image/svg+xml":
		return true
	case ext == "html" || ext == "htm" || ext == "shtml" || ext == "xhtml" || ext == "svg":
		return true
	}
	return false
}

// addPartText adds text from a part, as valid UTF-8.
func (t *textScan) addPartText(f *partFacts, s string) {
	if s == "" || t.textBudget <= 0 {
		return
	}
	if len(s) > t.textBudget {
		s = s[:t.textBudget]
	}
	s = validUTF8(s)
	if !f.gtube && strings.Contains(s, gtube) {
		f.gtube = true
	}
	t.addText(s)
}

// addHTMLPart reads an HTML part's links and text, within the budget for
// HTML parts.
func (t *textScan) addHTMLPart(f *partFacts, content []byte, own ownDomains) {
	if f.htmlBudget <= 0 {
		return
	}
	h := validUTF8(string(content[:min(len(content), f.htmlBudget)]))
	f.htmlBudget -= len(h)
	if strings.Contains(h, gtube) {
		f.gtube = true
	}
	// scanHTML reads the visible words as well as the links.
	t.scanHTML(h, own)
}

// scanZip reads the names in a zip archive: executables among them, and
// their words, which say what the archive pretends to be. Only the
// central directory is read, except for an archive inside the archive,
// which is opened when nested is false and it is small. A damaged archive
// is read as far as it can be.
func (t *textScan) scanZip(f *partFacts, data []byte, nested bool) {
	if len(data) < 22 || len(data) > maxZipBytes || !bytes.HasPrefix(data, []byte("PK")) || zipEntries(data) > maxZipDir {
		return
	}
	zr, _ := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if zr == nil {
		return
	}
	for i, e := range zr.File {
		if i >= maxZipEntries {
			break
		}
		if e.Flags&0x1 != 0 {
			f.encrypted = true
		}
		name, ext := fileExt(e.Name)
		base := path.Base(strings.ReplaceAll(e.Name, "\\", "/"))
		if executableExts[ext] {
			f.inArchive = appendDistinct(f.inArchive, base)
			if disguised(name, ext) {
				f.doubleExt = appendDistinct(f.doubleExt, base)
			}
		}
		t.addPartText(f, nameWords.Replace(base)+"\n")
		if !nested && archiveExts[ext] && e.Flags&0x1 == 0 && e.UncompressedSize64 <= maxNestedZip && f.work > 0 {
			if rc, err := e.Open(); err == nil {
				inner, _ := io.ReadAll(io.LimitReader(rc, int64(min(maxNestedZip, f.work))))
				rc.Close()
				f.work -= len(inner)
				t.scanZip(f, inner, true)
			}
		}
	}
}

// zipEntries returns the number of entries an archive's end of central
// directory record announces, without reading the directory; 1<<16 for
// a Zip64 archive, whose record says 0xffff, and 0 when no record is
// found, which zip.NewReader will refuse.
func zipEntries(data []byte) int {
	const eocdLen = 22
	tail := data[max(0, len(data)-(eocdLen+0xffff)):]
	k := bytes.LastIndex(tail, []byte("PK\x05\x06"))
	if k < 0 || len(tail)-k < eocdLen {
		return 0
	}
	n := int(tail[k+10]) | int(tail[k+11])<<8
	if n == 0xffff {
		return 1 << 16
	}
	return n
}

// nameWords splits a file name into its words, so that no part of it
// reads as a domain.
var nameWords = strings.NewReplacer(".", " ", "_", " ", "-", " ", "/", " ")

// pdfText returns the text a PDF shows, as far as it can be read cheaply,
// at most max bytes of it: the strings that the text operators Tj, TJ, '
// and " show in the content streams that are uncompressed or compressed
// with FlateDecode. Strings are read as PDFDocEncoding (WinAnsi, for
// Latin-1 text) or UTF-16 with a byte order mark; a string with control
// characters is a font's glyph numbers, which say nothing without the
// font, and is left out. Hostile input costs at most maxPDFScan bytes
// searched and maxPDFInflate inflated, in maxPDFStreams streams: the
// work it returns is the bytes searched and inflated.
func pdfText(data []byte, max int) (text string, work int) {
	data = data[:min(len(data), maxPDFScan)]
	var out []byte
	inflated := 0
	for off, streams := 0, 0; streams < maxPDFStreams && len(out) < max && inflated < maxPDFInflate; {
		k := bytes.Index(data[off:], []byte("stream"))
		if k < 0 {
			break
		}
		kw := off + k
		off = kw + len("stream")
		if kw >= 3 && string(data[kw-3:kw]) == "end" {
			continue
		}
		dict, ok := streamDict(data[:kw])
		if !ok {
			continue
		}
		start := off
		if start < len(data) && data[start] == '\r' {
			start++
		}
		if start < len(data) && data[start] == '\n' {
			start++
		}
		end := bytes.Index(data[start:], []byte("endstream"))
		if end < 0 {
			end = len(data) - start
		}
		body := data[start : start+end]
		off = start + end
		streams++
		flate, ok := contentFilter(dict)
		if !ok {
			continue
		}
		if flate {
			var n int
			body, n = inflate(body, maxPDFInflate-inflated)
			inflated += n
		}
		out = pdfShowText(body, out, max)
	}
	return string(out), len(data) + inflated
}

// streamDict returns the dictionary that ends just before a stream
// keyword at the end of head.
func streamDict(head []byte) ([]byte, bool) {
	head = bytes.TrimRight(head, " \t\r\n\f\x00")
	if !bytes.HasSuffix(head, []byte(">>")) {
		return nil, false
	}
	from := max(0, len(head)-4096)
	if k := bytes.LastIndex(head[from:], []byte("obj")); k >= 0 {
		from += k
	}
	return head[from:], true
}

// contentFilter reports whether a stream with this dictionary may be a
// content stream, and whether it is compressed with FlateDecode. Images,
// fonts, metadata, embedded files and other filters are not read.
func contentFilter(dict []byte) (flate, ok bool) {
	for _, not := range []string{"/Image", "/Length1", "/Length2", "/FontFile", "/ObjStm", "/XRef", "/Metadata", "/EmbeddedFile", "/DecodeParms", "/DCT", "/JPX", "/JBIG2", "/CCITT", "/LZW", "/ASCII", "/RunLength", "/Crypt", "/Type1C", "/CIDFont", "/OpenType"} {
		if bytes.Contains(dict, []byte(not)) {
			return false, false
		}
	}
	return bytes.Contains(dict, []byte("/FlateDecode")) || bytes.Contains(dict, []byte("/Fl ")) || bytes.Contains(dict, []byte("/Fl/")), true
}

// inflate decompresses a FlateDecode stream, zlib or bare deflate, to at
// most limit bytes, keeping what was read before an error. It returns
// the bytes and how many.
func inflate(body []byte, limit int) ([]byte, int) {
	var r io.Reader
	if zr, err := zlib.NewReader(bytes.NewReader(body)); err == nil {
		r = zr
	} else {
		r = flate.NewReader(bytes.NewReader(body))
	}
	out, _ := io.ReadAll(io.LimitReader(r, int64(limit)))
	return out, len(out)
}

// pdfShowText appends to out, up to max bytes, the strings that the text
// operators of a content stream show.
func pdfShowText(cs []byte, out []byte, max int) []byte {
	// The strings since the last operator, the operands of the next one:
	// pend holds their bytes, marks where each ends.
	var pend []byte
	var marks []pdfMark
	gap := false
	operand := func(s []byte, i int) {
		if len(marks) < maxPDFOperands {
			marks = append(marks, pdfMark{len(s), gap})
			pend = s
		} else {
			pend = pend[:marks[len(marks)-1].end]
		}
		gap = false
	}
	for i := 0; i < len(cs) && len(out) < max; {
		c := cs[i]
		switch {
		case isPDFSpace(c) || c == '[' || c == ']' || c == '{' || c == '}':
			i++
		case c == '%':
			for i < len(cs) && cs[i] != '\n' && cs[i] != '\r' {
				i++
			}
		case c == '(':
			var s []byte
			s, i = pdfLiteral(cs, i+1, pend)
			operand(s, i)
		case c == '<' && i+1 < len(cs) && cs[i+1] == '<', c == '>' && i+1 < len(cs) && cs[i+1] == '>':
			i += 2
		case c == '<':
			var s []byte
			s, i = pdfHex(cs, i+1, pend)
			operand(s, i)
		case c == '/':
			i++
			for i < len(cs) && !isPDFSpace(cs[i]) && !isPDFDelim(cs[i]) {
				i++
			}
		case c == '-' || c == '+' || c == '.' || c >= '0' && c <= '9':
			j, whole, frac := i+1, 0, false
			for j < len(cs) && (cs[j] == '.' || cs[j] >= '0' && cs[j] <= '9') {
				if cs[j] == '.' {
					frac = true
				} else if !frac && whole < 1e6 {
					whole = whole*10 + int(cs[j]-'0')
				}
				j++
			}
			// In a TJ array a large negative number moves the next
			// string right: a space between words.
			if c == '-' && whole >= 200 {
				gap = true
			}
			i = j
		default:
			j := i
			for j < len(cs) && !isPDFSpace(cs[j]) && !isPDFDelim(cs[j]) {
				j++
			}
			if j == i {
				j++ // a stray delimiter
			}
			op := cs[i:j]
			i = j
			switch string(op) {
			case "Tj", "TJ", "'", "\"":
				if op[0] == '\'' || op[0] == '"' {
					out = pdfSep(out, '\n')
				}
				start := 0
				for _, m := range marks {
					if m.gap {
						out = pdfSep(out, ' ')
					}
					out = appendPDFString(out, pend[start:m.end], max)
					start = m.end
				}
			case "Td", "TD", "Tm", "T*", "BT", "ET":
				out = pdfSep(out, ' ')
			case "ID":
				// Inline image data, binary up to EI.
				if k := bytes.Index(cs[i:], []byte("EI")); k >= 0 {
					i += k + 2
				} else {
					i = len(cs)
				}
			}
			pend, marks, gap = pend[:0], marks[:0], false
		}
	}
	if len(out) > max {
		out = out[:max]
		for len(out) > 0 && !utf8.Valid(out) {
			out = out[:len(out)-1]
		}
	}
	return out
}

// pdfMark ends one string operand in pdfShowText's buffer.
type pdfMark struct {
	end int
	gap bool // a wide gap in a TJ array comes before the string
}

// maxPDFOperands bounds the strings kept for one operator: a TJ array of
// a line has tens.
const maxPDFOperands = 1024

func isPDFSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == 0
}

func isPDFDelim(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

// pdfSep appends sep unless out is empty or ends in white space.
func pdfSep(out []byte, sep byte) []byte {
	if len(out) == 0 || out[len(out)-1] == ' ' || out[len(out)-1] == '\n' {
		return out
	}
	return append(out, sep)
}

// pdfLiteral reads a literal string whose opening parenthesis is before
// cs[i], appending its bytes to s; it returns s and the index after the
// closing parenthesis.
func pdfLiteral(cs []byte, i int, s []byte) ([]byte, int) {
	depth := 1
	for ; i < len(cs); i++ {
		c := cs[i]
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return s, i + 1
			}
		case '\\':
			i++
			if i >= len(cs) {
				return s, i
			}
			switch e := cs[i]; e {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'b', 'f':
				c = ' '
			case '\r':
				if i+1 < len(cs) && cs[i+1] == '\n' {
					i++
				}
				continue
			case '\n':
				continue
			default:
				if e >= '0' && e <= '7' {
					v := 0
					for k := 0; k < 3 && i < len(cs) && cs[i] >= '0' && cs[i] <= '7'; k++ {
						v = v*8 + int(cs[i]-'0')
						i++
					}
					i--
					c = byte(v)
				} else {
					c = e
				}
			}
		}
		s = append(s, c)
	}
	return s, i
}

// pdfHex reads a hex string whose '<' is before cs[i], appending its
// bytes to s; it returns s and the index after the '>'.
func pdfHex(cs []byte, i int, s []byte) ([]byte, int) {
	var hi byte
	half := false
	for ; i < len(cs) && cs[i] != '>'; i++ {
		v, ok := unhex(cs[i])
		if !ok {
			continue
		}
		if half {
			s = append(s, hi<<4|v)
		} else {
			hi = v
		}
		half = !half
	}
	if half {
		s = append(s, hi<<4)
	}
	return s, min(i+1, len(cs))
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// appendPDFString appends a shown string as UTF-8, if it is text.
func appendPDFString(out, s []byte, max int) []byte {
	if len(s) >= 2 && s[0] == 0xfe && s[1] == 0xff {
		u := make([]uint16, 0, len(s)/2)
		for k := 2; k+1 < len(s); k += 2 {
			u = append(u, uint16(s[k])<<8|uint16(s[k+1]))
		}
		for _, r := range utf16.Decode(u) {
			if r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
				return out
			}
		}
		for _, r := range utf16.Decode(u) {
			if len(out) >= max {
				break
			}
			out = utf8.AppendRune(out, r)
		}
		return out
	}
	for _, c := range s {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return out
		}
	}
	for _, c := range s {
		if len(out) >= max {
			break
		}
		r := rune(c)
		if c >= 0x80 && c < 0xa0 {
			r = winAnsi[c-0x80]
		}
		out = utf8.AppendRune(out, r)
	}
	return out
}

// winAnsi is WinAnsiEncoding's (Windows-1252's) 0x80 to 0x9f, where it
// differs from Latin-1.
var winAnsi = [32]rune{
	'€', '\uFFFD', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\uFFFD', 'Ž', '\uFFFD',
	'\uFFFD', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\uFFFD', 'ž', 'Ÿ',
}
