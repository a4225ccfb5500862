package sitediff

import (
	"bytes"
	"cmp"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// Marker is one trace of mail sending or of a web shell in a PHP file.
type Marker struct {
	// Name says what was found, as a short kebab-case word: "mail-loop",
	// "eval-decoded", "header-injection".
	Name string `json:"name"`
	// Weight is how much the marker says about the file: 1 for what
	// every contact form does, 5 and more (see StrongWeight) for what
	// legitimate code hardly ever does.
	Weight float64 `json:"weight"`
	// Line is the 1-based line of the file where it was found; 0 for a
	// marker of the file as a whole, such as PHP in an upload directory.
	Line int `json:"line"`
	// Excerpt is a short, printable piece of that line.
	Excerpt string `json:"excerpt"`
}

// StrongWeight is the weight from which a marker alone makes an unchanged
// file worth listing: an eval of decoded data, request data in a mail
// header, a function named by the request.
const StrongWeight = 5

// The markers' weights. Legitimate code calls mail() and base64_decode();
// mailers and shells chain them with eval, loop over recipients and take
// what they run or whom they mail from the request.
const (
	weightMailCall        = 1   // mail(): every contact form
	weightDecode          = 0.5 // base64_decode() alone: common in legitimate code
	weightObfuscation     = 3   // decoders nested: gzinflate(base64_decode(...))
	weightEval            = 2   // eval of something else
	weightCreateFunction  = 3   // deprecated since PHP 7.2, loved by shells
	weightMailLoop        = 4   // mail() inside a loop
	weightMailerLoop      = 4   // PHPMailer/SwiftMailer sending inside a loop
	weightResultsLog      = 3   // appending to a .txt file: phishing kits' results
	weightRawSocket       = 1   // fsockopen elsewhere than a mail port
	weightHeaderInjection = 5   // request data in mail()'s headers or -f
	weightUserRecipient   = 5   // request data as mail()'s recipient
	weightSMTPSocket      = 5   // a socket to port 25, 465 or 587
	weightLongEncoded     = 5   // 1,000+ characters of base64 or hex in one literal
	weightPasswordMailed  = 6   // $_POST['password'] in a file that mails or logs
	weightEvalDecoded     = 6   // eval of a variable in a file that decodes
	weightCookieShell     = 7   // @$_COOKIE: the classic cookie shell
	weightPregReplaceE    = 7   // preg_replace with /e: eval in disguise
	weightEvalChain       = 8   // eval(gzinflate(base64_decode(...)))
	weightRequestCalled   = 9   // $f($_POST[...]), $_GET['f'](...)
	weightEvalRequest     = 9   // eval($_POST[...])
	weightCommandRequest  = 9   // system($_GET[...])
	weightEncodedImage    = 0.2 // a data: image in a template
)

// MinEncodedLength is the length from which a base64 or hex run in one
// string literal is a "long-encoded" marker: payloads of obfuscated
// mailers run to kilobytes, keys and hashes stay well below.
const MinEncodedLength = 1000

// maxPerMarker bounds how often one marker is reported per file: a mailer
// with 300 mail() calls needs three to be recognised.
const maxPerMarker = 3

// Scan looks for the markers of mail sending and web shells in the PHP
// source data, as PHP reads it: only between <?php and ?>, comments
// ignored. It executes nothing and never fails; binary data around the
// code (an image with PHP inside) is skipped like HTML. The markers come
// heaviest first, then by line.
func Scan(data []byte) []Marker {
	if !bytes.Contains(data, []byte("<?")) {
		return nil
	}
	sc := scratches.Get().(*scratch)
	defer scratches.Put(sc)
	s := lex(data, sc)
	s.scan()
	sc.strs = s.strs[:0]
	slices.SortStableFunc(s.markers, func(a, b Marker) int {
		if c := cmp.Compare(b.Weight, a.Weight); c != 0 {
			return c
		}
		return cmp.Compare(a.Line, b.Line)
	})
	var out []Marker
	seen := make(map[string]int)
	for _, m := range s.markers {
		if seen[m.Name] < maxPerMarker {
			out = append(out, m)
		}
		seen[m.Name]++
	}
	return out
}

// source is a PHP file in the views the markers need. code is the raw
// text lowercased (PHP's function names ignore case) with comments and
// everything outside <?php ?> blanked; bare is code with the contents of
// string literals blanked too, so that parentheses, commas and semicolons
// in bare are PHP's own. Blanking keeps newlines, so offsets and lines
// are the same in all three.
type source struct {
	raw, code, bare []byte
	strs            []span // contents of string literals and heredocs
	lineStarts      []int
	markers         []Marker

	loops   []span          // bodies of loops, for calls "inside a loop"
	tainted map[string]bool // variables holding request data, "$name"
}

type span struct{ start, end int }

// scratch is the memory of a scan that is recycled: a scan of a whole
// site lexes tens of thousands of files.
type scratch struct {
	views []byte // code and bare
	strs  []span
}

var scratches = sync.Pool{New: func() any { return new(scratch) }}

// lex makes the views of raw in sc, which it grows as needed.
func lex(raw []byte, sc *scratch) *source {
	n := len(raw)
	if cap(sc.views) < 2*n {
		sc.views = make([]byte, 2*n)
	}
	s := &source{raw: raw, code: sc.views[:n:n], bare: sc.views[n : 2*n : 2*n], strs: sc.strs[:0]}
	blank := func(from, to int) {
		for k := from; k < to; k++ {
			c := byte(' ')
			if raw[k] == '\n' {
				c = '\n'
			}
			s.code[k], s.bare[k] = c, c
		}
	}
	inPHP := false
	for i := 0; i < n; {
		c := raw[i]
		if !inPHP {
			j := bytes.Index(raw[i:], []byte("<?"))
			if j < 0 {
				blank(i, n)
				break
			}
			blank(i, i+j)
			i += j
			k := i + 2
			switch {
			case k+3 <= n && strings.EqualFold(string(raw[k:k+3]), "php"):
				k += 3
			case k < n && raw[k] == '=':
				k++
			case k < n && (raw[k] == ' ' || raw[k] == '\n' || raw[k] == '\r' || raw[k] == '\t'):
				// a short open tag
			default:
				blank(i, i+2) // <?xml and the like
				i += 2
				continue
			}
			blank(i, k)
			i, inPHP = k, true
			continue
		}
		next := byte(0)
		if i+1 < n {
			next = raw[i+1]
		}
		switch {
		case c == '?' && next == '>':
			s.code[i], s.bare[i], s.code[i+1], s.bare[i+1] = ';', ';', ' ', ' '
			i += 2
			inPHP = false
		case c == '/' && next == '/', c == '#' && next != '[':
			j := i
			for j < n && raw[j] != '\n' && !(raw[j] == '?' && j+1 < n && raw[j+1] == '>') {
				j++
			}
			blank(i, j)
			i = j
		case c == '/' && next == '*':
			j := bytes.Index(raw[i+2:], []byte("*/"))
			end := n
			if j >= 0 {
				end = i + 2 + j + 2
			}
			blank(i, end)
			i = end
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			for j < n && raw[j] != c {
				if raw[j] == '\\' {
					j++
				}
				j++
			}
			end := min(j, n)
			s.literal(i, i+1, end)
			i = min(end+1, n)
		case c == '<' && bytes.HasPrefix(raw[i:], []byte("<<<")):
			i = s.heredoc(i)
		default:
			s.code[i], s.bare[i] = lower(c), lower(c)
			i++
		}
	}
	return s
}

// literal records the string literal whose quote is at q and whose
// contents are raw[from:to]; the closing quote, if any, is at to.
func (s *source) literal(q, from, to int) {
	s.code[q], s.bare[q] = s.raw[q], s.raw[q]
	for k := from; k < to; k++ {
		s.code[k] = lower(s.raw[k])
		s.bare[k] = ' '
		if s.raw[k] == '\n' {
			s.bare[k] = '\n'
		}
	}
	if to < len(s.raw) {
		s.code[to], s.bare[to] = s.raw[to], s.raw[to]
	}
	s.strs = append(s.strs, span{from, to})
}

// heredoc lexes <<<LABEL ... LABEL starting at i and returns where it ends.
func (s *source) heredoc(i int) int {
	raw := s.raw
	j := i + 3
	for j < len(raw) && (raw[j] == ' ' || raw[j] == '\'' || raw[j] == '"') {
		j++
	}
	k := j
	for k < len(raw) && isIdent(raw[k]) {
		k++
	}
	label := raw[j:k]
	nl := bytes.IndexByte(raw[k:], '\n')
	if len(label) == 0 || nl < 0 {
		s.code[i], s.bare[i] = '<', '<'
		return i + 1
	}
	from := k + nl + 1
	end := len(raw)
	for p := from; p < len(raw); {
		line := raw[p:]
		if e := bytes.IndexByte(line, '\n'); e >= 0 {
			line = line[:e]
		}
		t := bytes.TrimLeft(line, " \t")
		if bytes.HasPrefix(t, label) && (len(t) == len(label) || !isIdent(t[len(label)])) {
			end = p + (len(line) - len(t))
			break
		}
		p += len(line) + 1
	}
	for q := i; q < from; q++ {
		s.code[q], s.bare[q] = lower(raw[q]), lower(raw[q])
	}
	s.literal(from-1, from, end)
	s.code[from-1], s.bare[from-1] = '\n', '\n'
	labelEnd := min(end+len(label), len(raw))
	for q := end; q < labelEnd; q++ {
		s.code[q], s.bare[q] = ' ', ' '
	}
	return labelEnd
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isIdent(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c >= 0x80
}

// triggers are what at least one marker needs in the code: a file with
// none of them and no long literal is done after the lexing.
var triggers = [][]byte{
	[]byte("mail"), []byte("eval"), []byte("assert"), []byte("create_function"),
	[]byte("decode"), []byte("gzinflate"), []byte("gzuncompress"), []byte("str_rot13"),
	[]byte("sockopen"), []byte("stream_socket_client"), []byte("preg_replace"),
	[]byte("$_"), []byte("$http_"), []byte("php://input"), []byte(".txt"),
	[]byte("phpmailer"), []byte("swift"),
}

func (s *source) worthScanning() bool {
	for _, t := range triggers {
		if bytes.Contains(s.code, t) {
			return true
		}
	}
	return slices.ContainsFunc(s.strs, func(sp span) bool { return sp.end-sp.start >= MinEncodedLength })
}

func (s *source) scan() {
	if !s.worthScanning() {
		return
	}
	s.findLoops()
	s.findTaint()
	mails := s.calls("mail")
	for _, c := range mails {
		s.mark("mail-call", weightMailCall, c.name)
		if s.inLoop(c.name) {
			s.mark("mail-loop", weightMailLoop, c.name)
		}
		args := s.args(c)
		if len(args) > 0 && s.fromRequest(args[0]) {
			s.mark("mail-recipient-from-request", weightUserRecipient, c.name)
		}
		for _, k := range []int{1, 3, 4} { // subject, headers, sendmail's -f
			if k < len(args) && s.fromRequest(args[k]) {
				s.mark("header-injection", weightHeaderInjection, c.name)
				break
			}
		}
	}
	s.scanMailers()
	s.scanEval()
	s.scanSockets()
	s.scanEncoded()
	s.scanRequestCalls()
	s.scanPhishing(len(mails) > 0)
}

// mark adds a marker at offset off.
func (s *source) mark(name string, weight float64, off int) {
	line := s.line(off)
	s.markers = append(s.markers, Marker{Name: name, Weight: weight, Line: line, Excerpt: s.excerpt(off)})
}

func (s *source) line(off int) int {
	if s.lineStarts == nil {
		s.lineStarts = []int{0}
		for i, c := range s.raw {
			if c == '\n' {
				s.lineStarts = append(s.lineStarts, i+1)
			}
		}
	}
	return sort.SearchInts(s.lineStarts, off+1)
}

// excerptLen bounds an excerpt: enough for a call and its arguments, not
// a 50 kB payload.
const excerptLen = 100

func (s *source) excerpt(off int) string {
	start := s.lineStarts[s.line(off)-1]
	end := bytes.IndexByte(s.raw[start:], '\n')
	if end < 0 {
		end = len(s.raw)
	} else {
		end += start
	}
	from, to := start, end
	if to-from > excerptLen {
		from = max(start, off-excerptLen/3)
		to = min(end, from+excerptLen)
	}
	text := printable(s.raw[from:to])
	if from > start {
		text = "…" + text
	}
	if to < end {
		text += "…"
	}
	return text
}

// printable makes file content safe to show: valid UTF-8, no control
// characters, runs of white space as one space.
func printable(b []byte) string {
	var sb strings.Builder
	space := false
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		switch {
		case r == ' ' || r == '\t' || r == '\r' || r == '\n':
			space = sb.Len() > 0
			continue
		case r == utf8.RuneError || r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0):
			r = '?'
		}
		if space {
			sb.WriteByte(' ')
			space = false
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// call is a call of a function: the offsets of its name and of its "(".
type call struct{ name, paren int }

// calls finds the calls of the function name (lowercase) in bare: not a
// method, not a declaration, not part of a longer name.
func (s *source) calls(name string) []call {
	var out []call
	b := s.bare
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(name))
		if j < 0 {
			return out
		}
		at := i + j
		i = at + len(name)
		if at > 0 && (isIdent(b[at-1]) || b[at-1] == '$' || b[at-1] == '>' || b[at-1] == ':' || b[at-1] == '\\' && at > 1 && isIdent(b[at-2])) {
			continue
		}
		k := i
		for k < len(b) && (b[k] == ' ' || b[k] == '\t' || b[k] == '\n' || b[k] == '\r') {
			k++
		}
		if k >= len(b) || b[k] != '(' {
			continue
		}
		if bytes.HasSuffix(bytes.TrimRight(b[:at], " \t\n\r&"), []byte("function")) {
			continue
		}
		out = append(out, call{at, k})
	}
}

// closing returns the offset of the parenthesis closing the one at open.
func (s *source) closing(open int) int {
	depth := 0
	for i := open; i < len(s.bare); i++ {
		switch s.bare[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return len(s.bare)
}

// args returns the arguments of c, split at its own commas.
func (s *source) args(c call) []span {
	end := s.closing(c.paren)
	var out []span
	depth, from := 0, c.paren+1
	for i := from; i < end; i++ {
		switch s.bare[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, span{from, i})
				from = i + 1
			}
		}
	}
	if from < end || len(out) > 0 {
		out = append(out, span{from, end})
	}
	return out
}

// findLoops records the bodies of for, foreach, while and do loops: the
// braces, or the one statement of a loop without braces.
func (s *source) findLoops() {
	b := s.bare
	type open struct {
		at   int
		loop bool
	}
	var stack []open
	pending, header, headerDepth, depth := false, false, 0, 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case isIdent(c) && (i == 0 || !isIdent(b[i-1]) && b[i-1] != '$'):
			j := i
			for j < len(b) && isIdent(b[j]) {
				j++
			}
			switch string(b[i:j]) {
			case "for", "foreach", "while":
				pending, header, headerDepth = true, true, depth
			case "do":
				pending, header = true, false
			}
			i = j - 1
		case c == '(':
			depth++
		case c == ')':
			depth--
			if pending && header && depth == headerDepth {
				header = false
				s.loops = append(s.loops, span{i, -1}) // a body without braces, to the next ";"
			}
		case c == '{':
			loop := pending && !header
			if loop && len(s.loops) > 0 && s.loops[len(s.loops)-1].end == -1 {
				s.loops = s.loops[:len(s.loops)-1]
			}
			stack = append(stack, open{i, loop})
			pending = false
		case c == '}':
			if len(stack) > 0 {
				o := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if o.loop {
					s.loops = append(s.loops, span{o.at, i})
				}
			}
		case c == ';' && depth == 0:
			if pending && !header && len(s.loops) > 0 && s.loops[len(s.loops)-1].end == -1 {
				s.loops[len(s.loops)-1].end = i
			}
			pending = false
		}
	}
	s.loops = slices.DeleteFunc(s.loops, func(l span) bool { return l.end < 0 })
}

func (s *source) inLoop(off int) bool {
	for _, l := range s.loops {
		if l.start < off && off < l.end {
			return true
		}
	}
	return false
}

var (
	requestRE = regexp.MustCompile(`\$_(?:post|get|request|cookie|files)\b|\$http_(?:post|get)_vars\b|php://input`)
	// requestHints are what requestRE needs to match, cheap to look for.
	requestHints = [][]byte{[]byte("$_"), []byte("$http_"), []byte("php://input")}
	// sanitizers make request data safe for a mail header: they validate
	// an address or strip the line breaks.
	sanitizers = [][]byte{[]byte("filter_var"), []byte("filter_input"), []byte("sanitize_"), []byte("preg_replace"), []byte("str_replace"), []byte("is_email"), []byte("preg_match"), []byte("intval"), []byte("(int)")}
)

// variables returns the variables named in text, "$name".
func variables(text []byte) [][]byte {
	var out [][]byte
	for i := 0; ; {
		j := bytes.IndexByte(text[i:], '$')
		if j < 0 {
			return out
		}
		at := i + j
		k := at + 1
		for k < len(text) && isIdent(text[k]) {
			k++
		}
		if k > at+1 && !('0' <= text[at+1] && text[at+1] <= '9') {
			out = append(out, text[at:k])
		}
		i = k
	}
}

// assignment is "$name = ..." or "$name .= ...", or the value of a
// foreach; rhs is what is assigned, to the end of the statement.
type assignment struct {
	name   string
	rhs    span
	direct bool     // rhs names request data itself
	vars   []string // the variables rhs names
}

// assignments finds the assignments to plain variables and array
// elements in bare.
func (s *source) assignments() []assignment {
	var out []assignment
	b := s.bare
	skip := func(k int) int {
		for k < len(b) && (b[k] == ' ' || b[k] == '\t' || b[k] == '\n' || b[k] == '\r') {
			k++
		}
		return k
	}
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '$')
		if j < 0 {
			break
		}
		at := i + j
		k := at + 1
		for k < len(b) && isIdent(b[k]) {
			k++
		}
		i = k
		if k == at+1 {
			continue
		}
		name := b[at:k]
		k = skip(k)
		if k < len(b) && b[k] == '[' {
			if e := bytes.IndexByte(b[k:], ']'); e >= 0 {
				k = skip(k + e + 1)
			}
		}
		if k < len(b) && b[k] == '.' {
			k++
		}
		if k+1 >= len(b) || b[k] != '=' || b[k+1] == '=' || b[k+1] == '>' {
			continue
		}
		end := bytes.IndexByte(b[k:], ';')
		if end < 0 {
			end = len(b)
		} else {
			end += k
		}
		out = append(out, assignment{name: string(name), rhs: span{k + 1, end}})
	}
	for _, c := range s.calls("foreach") {
		head := s.bare[c.paren:s.closing(c.paren)]
		as := bytes.LastIndex(head, []byte(" as "))
		if as < 0 {
			continue
		}
		vars := variables(head[as:])
		if len(vars) == 0 {
			continue
		}
		out = append(out, assignment{name: string(vars[len(vars)-1]), rhs: span{c.paren, c.paren + as}})
	}
	return out
}

// findTaint collects the variables assigned from request data, also
// through one another and through foreach, so that
// "$list = explode(..., $_POST['to']); foreach ($list as $to) mail($to, ...)"
// is seen as mailing whom the request names.
func (s *source) findTaint() {
	s.tainted = make(map[string]bool)
	if !hintsRequest(s.code) {
		return
	}
	as := s.assignments()
	for i := range as {
		a := &as[i]
		text := s.code[a.rhs.start:a.rhs.end]
		if sanitizes(text) {
			continue
		}
		a.direct = mentionsRequest(text)
		for _, v := range variables(text) {
			a.vars = append(a.vars, string(v))
		}
	}
	for range 4 { // enough for request → list → item → header
		grew := false
		for _, a := range as {
			if s.tainted[a.name] {
				continue
			}
			if a.direct || slices.ContainsFunc(a.vars, func(v string) bool { return s.tainted[v] }) {
				s.tainted[a.name], grew = true, true
			}
		}
		if !grew {
			return
		}
	}
}

func sanitizes(text []byte) bool {
	for _, san := range sanitizers {
		if bytes.Contains(text, san) {
			return true
		}
	}
	return false
}

// fromRequest reports whether the code in sp carries request data that
// was not sanitised on the way.
func (s *source) fromRequest(sp span) bool {
	text := s.code[sp.start:sp.end]
	if sanitizes(text) {
		return false
	}
	if mentionsRequest(text) {
		return true
	}
	if len(s.tainted) == 0 {
		return false
	}
	for _, v := range variables(text) {
		if s.tainted[string(v)] {
			return true
		}
	}
	return false
}

// mentionsRequest reports whether text names request data.
func mentionsRequest(text []byte) bool {
	return hintsRequest(text) && requestRE.Match(text)
}

// hintsRequest is the cheap part of mentionsRequest.
func hintsRequest(text []byte) bool {
	for _, h := range requestHints {
		if bytes.Contains(text, h) {
			return true
		}
	}
	return false
}

var decoders = []string{"base64_decode", "gzinflate", "gzuncompress", "gzdecode", "str_rot13", "strrev", "hex2bin", "convert_uudecode", "urldecode", "rawurldecode"}

// decodes reports whether the code in sp calls a decoder.
func (s *source) decodes(sp span) bool {
	text := s.bare[sp.start:sp.end]
	for _, d := range decoders {
		if i := bytes.Index(text, []byte(d)); i >= 0 && (i == 0 || !isIdent(text[i-1])) {
			return true
		}
	}
	return false
}

func (s *source) whole(c call) span { return span{c.paren, s.closing(c.paren)} }

func (s *source) scanEval() {
	decodesAnywhere := false
	for _, d := range decoders[:5] {
		for _, c := range s.calls(d) {
			decodesAnywhere = true
			if d == "base64_decode" {
				s.mark("base64-decode", weightDecode, c.name)
			}
			if inner := s.whole(c); s.decodes(span{inner.start + 1, inner.end}) {
				s.mark("obfuscation", weightObfuscation, c.name)
			}
		}
	}
	for _, name := range []string{"eval", "assert", "create_function"} {
		for _, c := range s.calls(name) {
			arg := s.whole(c)
			switch {
			case s.fromRequest(arg):
				s.mark("eval-request", weightEvalRequest, c.name)
			case s.decodes(arg):
				s.mark("eval-decoded", weightEvalChain, c.name)
			case name == "assert":
				// assert($x > 0) is what assert is for
			case decodesAnywhere && len(variables(s.code[arg.start:arg.end])) > 0:
				s.mark("eval-decoded", weightEvalDecoded, c.name)
			case name == "create_function":
				s.mark("create-function", weightCreateFunction, c.name)
			default:
				s.mark("eval", weightEval, c.name)
			}
		}
	}
	for _, c := range s.calls("preg_replace") {
		args := s.args(c)
		if len(args) == 0 {
			continue
		}
		for _, str := range s.strs {
			if str.start < args[0].start || str.start >= args[0].end {
				continue
			}
			if pregModifiers(s.raw[str.start:str.end]) {
				s.mark("preg-replace-e", weightPregReplaceE, c.name)
			}
			break
		}
	}
}

// pregModifiers reports whether the regular expression re carries PHP's
// /e modifier, which evaluates the replacement as code.
func pregModifiers(re []byte) bool {
	if len(re) < 2 {
		return false
	}
	closer := re[0]
	switch closer {
	case '(':
		closer = ')'
	case '[':
		closer = ']'
	case '{':
		closer = '}'
	case '<':
		closer = '>'
	}
	end := bytes.LastIndexByte(re[1:], closer)
	if end < 0 {
		return false
	}
	return bytes.IndexByte(re[end+2:], 'e') >= 0
}

var portRE = regexp.MustCompile(`(?:^|[^0-9.])(?:25|465|587)(?:[^0-9]|$)`)

func (s *source) scanSockets() {
	for _, name := range []string{"fsockopen", "pfsockopen", "stream_socket_client"} {
		for _, c := range s.calls(name) {
			arg := s.whole(c)
			if portRE.Match(s.code[arg.start+1 : arg.end]) {
				s.mark("smtp-socket", weightSMTPSocket, c.name)
			} else {
				s.mark("raw-socket", weightRawSocket, c.name)
			}
		}
	}
}

// scanMailers finds PHPMailer and SwiftMailer sending inside a loop.
func (s *source) scanMailers() {
	if !bytes.Contains(s.code, []byte("phpmailer")) && !bytes.Contains(s.code, []byte("swift_")) && !bytes.Contains(s.code, []byte("swift\\")) {
		return
	}
	for _, method := range []string{"->send(", "->addaddress(", "->setto(", "->addto(", "->addbcc("} {
		for i := 0; ; {
			j := bytes.Index(s.bare[i:], []byte(method))
			if j < 0 {
				break
			}
			i += j + len(method)
			if s.inLoop(i - len(method)) {
				s.mark("mailer-loop", weightMailerLoop, i-len(method))
			}
		}
	}
}

var (
	base64Set = charSet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-")
	hexSet    = charSet("0123456789abcdefABCDEF")
)

func charSet(chars string) (set [256]bool) {
	for i := range len(chars) {
		set[chars[i]] = true
	}
	return set
}

// imageMagic are base64 prefixes of PNG, JPEG, GIF, WebP, SVG and ICO
// data: an encoded image in a template is not a payload.
var imageMagic = []string{"iVBORw0KGgo", "/9j/", "R0lGOD", "UklGR", "PHN2Zy", "PD94bWwg", "AAABAA"}

func (s *source) scanEncoded() {
	for _, str := range s.strs {
		if str.end-str.start < MinEncodedLength {
			continue
		}
		text := s.raw[str.start:str.end]
		if run, at := longestRun(text, &base64Set); run >= MinEncodedLength {
			payload := text[at:]
			before := bytes.ToLower(text[max(0, at-40):at])
			if bytes.Contains(before, []byte("data:image/")) || hasAnyPrefix(payload, imageMagic) {
				s.mark("encoded-image", weightEncodedImage, str.start+at)
			} else {
				s.mark("long-encoded", weightLongEncoded, str.start+at)
			}
			continue
		}
		if hexEscapes(text) >= MinEncodedLength {
			s.mark("long-encoded", weightLongEncoded, str.start)
		}
	}
}

func hasAnyPrefix(b []byte, prefixes []string) bool {
	for _, p := range prefixes {
		if bytes.HasPrefix(b, []byte(p)) {
			return true
		}
	}
	return false
}

// longestRun returns the length and start of the longest run of bytes in
// set; line breaks inside a run are allowed, as in chunked base64.
func longestRun(b []byte, set *[256]bool) (best, at int) {
	n, start := 0, 0
	for i, c := range b {
		switch {
		case set[c]:
			if n == 0 {
				start = i
			}
			n++
		case (c == '\n' || c == '\r') && n > 0:
		default:
			n = 0
		}
		if n > best {
			best, at = n, start
		}
	}
	return best, at
}

// hexEscapes counts the characters of b written as \xNN escapes or as
// plain hex digits, the two ways hex payloads are written.
func hexEscapes(b []byte) int {
	if run, _ := longestRun(b, &hexSet); run >= MinEncodedLength {
		return run
	}
	n := 0
	for i := 0; i+3 < len(b); i++ {
		if b[i] == '\\' && (b[i+1] == 'x' || b[i+1] == 'X') && hexSet[b[i+2]] && hexSet[b[i+3]] {
			n += 4
			i += 3
		}
	}
	return n
}

var (
	requestCallRE = regexp.MustCompile(`\$_(?:post|get|request|cookie|server)\s*\[[^\]]*\]\s*\(`)
	cookieShellRE = regexp.MustCompile(`@\s*\$_cookie\b`)
)

// variableCalls finds the calls of variable functions, $f(...), but not
// of methods named by a variable, $obj->$m().
func (s *source) variableCalls() []call {
	var out []call
	b := s.bare
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '$')
		if j < 0 {
			return out
		}
		at := i + j
		k := at + 1
		for k < len(b) && isIdent(b[k]) {
			k++
		}
		i = k
		if k == at+1 || at > 0 && (b[at-1] == '>' || b[at-1] == ':') {
			continue
		}
		for k < len(b) && (b[k] == ' ' || b[k] == '\t' || b[k] == '\n' || b[k] == '\r') {
			k++
		}
		if k < len(b) && b[k] == '(' {
			out = append(out, call{at, k})
		}
	}
}

// scanRequestCalls finds code that runs what the request names: a
// function from $_POST, a variable function on request data, a shell
// command from the request, the @$_COOKIE shell.
func (s *source) scanRequestCalls() {
	if len(s.tainted) == 0 && !hintsRequest(s.code) {
		return
	}
	for _, m := range requestCallRE.FindAllIndex(s.bare, -1) {
		s.mark("request-called", weightRequestCalled, m[0])
	}
	for _, c := range s.variableCalls() {
		name := bytes.TrimRight(s.bare[c.name:c.paren], " \t\r\n")
		if s.tainted[string(name)] || s.fromRequest(s.whole(c)) {
			s.mark("request-called", weightRequestCalled, c.name)
		}
	}
	if bytes.Contains(s.code, []byte("$_cookie")) {
		for _, m := range cookieShellRE.FindAllIndex(s.code, -1) {
			s.mark("cookie-shell", weightCookieShell, m[0])
		}
	}
	for _, name := range []string{"system", "exec", "shell_exec", "passthru", "popen", "proc_open", "pcntl_exec"} {
		for _, c := range s.calls(name) {
			if s.fromRequest(s.whole(c)) {
				s.mark("command-from-request", weightCommandRequest, c.name)
			}
		}
	}
}

var passwordRE = regexp.MustCompile(`\$_(?:post|request|get)\s*\[\s*['"](?:pass|password|passwd|pwd|pass1|passw|psw|pword|userpass|user_pass)['"]`)

// scanPhishing finds the traits of phishing kits: results appended to a
// .txt file, a password from the form mailed or logged.
func (s *source) scanPhishing(mails bool) {
	logs := false
	for _, name := range []string{"fopen", "file_put_contents"} {
		for _, c := range s.calls(name) {
			args := s.args(c)
			if len(args) == 0 || !bytes.Contains(s.code[args[0].start:args[0].end], []byte(".txt")) {
				continue
			}
			if name == "fopen" && (len(args) < 2 || !bytes.ContainsAny(s.code[args[1].start:args[1].end], "aw")) {
				continue // reading
			}
			logs = true
			s.mark("results-log", weightResultsLog, c.name)
		}
	}
	if !mails && !logs {
		return
	}
	if m := passwordRE.FindIndex(s.code); m != nil {
		s.mark("password-mailed", weightPasswordMailed, m[0])
	}
}

// ScanFile scans the first DefaultMaxScan bytes of the file at path, as
// Compare does: a symbolic link is not followed and only a regular file
// is read, so a path someone else chose cannot make the caller read
// another file or block on a fifo.
func ScanFile(path string) ([]Marker, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := readHead(f, nil, DefaultMaxScan)
	if err != nil {
		return nil, err
	}
	return Scan(data), nil
}
