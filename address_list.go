package spamrun

import (
	"errors"
	"strings"
)

// ParseAddressList reads the addresses of a To, Cc or Bcc header field, or
// of a sendmail recipient argument, which may hold a list as Postfix
// allows ("a@x.example, Bo <b@y.example>"), and returns each in the
// canonical form of ParseAddress.
//
// It reads RFC 5322 §3.4 address lists with the obsolete forms of §4.4 and
// the slips Postfix forgives: display names with dots or "@" unquoted,
// comments anywhere, groups (whose names are dropped, so that
// "undisclosed-recipients:;" gives nothing), source routes, empty list
// elements, a missing ";" at the end of a group. An address without a
// domain ("root") is a local recipient, as in Postfix.
//
// One bad address fails the list, with an error that names it: a script's
// recipient is never silently dropped. A name written with its address but
// without angle brackets ("Ann Lee ann@example.org") is such an error, since
// which part is the address is a guess.
func ParseAddressList(value string) ([]string, error) {
	toks, err := tokenizeAddressList(value)
	if err != nil {
		return nil, badAddress(value, err.Error())
	}
	var (
		addrs   []string
		start   int  // of the current element, in toks
		inGroup bool // after a group's ":"
		inAngle bool // after "<": a source route's "," and ":" belong to it
	)
	// flush reads the element that ends before toks[end].
	flush := func(end int) error {
		if start < end { // else an empty element, as in "a@x,,b@y"
			addr, err := parseMailbox(value, toks[start:end])
			if err != nil {
				return err
			}
			addrs = append(addrs, addr)
		}
		start = end + 1
		return nil
	}
	for i, t := range toks {
		switch {
		case inAngle:
			inAngle = t.kind != '>'
		case t.kind == '<':
			inAngle = true
		case t.kind == ':' && !inGroup:
			// A group's display name; its members follow.
			inGroup, start = true, i+1
		case t.kind == ';' && !inGroup:
			return nil, badAddress(value, `";" outside a group`)
		case t.kind == ',' || t.kind == ';':
			if err := flush(i); err != nil {
				return nil, err
			}
			inGroup = inGroup && t.kind != ';'
		}
	}
	if err := flush(len(toks)); err != nil {
		return nil, err
	}
	return addrs, nil
}

// parseMailbox reads one element of an address list: an addr-spec, or a
// display name followed by an angle-addr.
func parseMailbox(value string, toks []addrToken) (string, error) {
	text := strings.TrimSpace(value[toks[0].pos : toks[len(toks)-1].pos+len(toks[len(toks)-1].text)])
	spec := toks
	if lt := indexKind(toks, '<'); lt >= 0 {
		gt := indexKind(toks, '>')
		if gt < lt || gt != len(toks)-1 {
			return "", badAddress(text, "the angle brackets do not enclose the address at the end")
		}
		spec = toks[lt+1 : gt]
		if len(spec) > 0 && spec[0].kind == '@' {
			colon := indexKind(spec, ':')
			if colon < 0 {
				return "", badAddress(text, "a source route without \":\"")
			}
			spec = spec[colon+1:]
		}
		if len(spec) == 0 {
			return "", badAddress(text, "the address in angle brackets is empty")
		}
	}
	var b strings.Builder
	for i, t := range spec {
		if i > 0 && t.spaced && isWord(t) && isWord(spec[i-1]) {
			return "", badAddress(text, "a name needs its address in angle brackets")
		}
		switch t.kind {
		case 'w', '"', '[', '.', '@':
			b.WriteString(t.text)
		default:
			return "", badAddress(text, "\""+t.text+"\" in the address")
		}
	}
	addr, err := ParseAddress(b.String())
	if err == nil && addr == "" {
		err = badAddress(text, "the address is empty")
	}
	return addr, err
}

func isWord(t addrToken) bool { return t.kind == 'w' || t.kind == '"' }

func indexKind(toks []addrToken, kind byte) int {
	for i, t := range toks {
		if t.kind == kind {
			return i
		}
	}
	return -1
}

// addrToken is one lexical token of an address list. kind is 'w' for an
// atom, '"' for a quoted string, '[' for a domain literal, or the special
// character itself.
type addrToken struct {
	kind   byte
	text   string // as written, quotes and brackets included
	pos    int    // in the value
	spaced bool   // white space or a comment comes before it
}

// tokenizeAddressList splits an address list into tokens, dropping white
// space and comments (RFC 5322 §3.2).
func tokenizeAddressList(s string) ([]addrToken, error) {
	var toks []addrToken
	spaced := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			spaced = true
			i++
			continue
		case c == '(':
			end, err := skipComment(s, i)
			if err != nil {
				return nil, err
			}
			spaced, i = true, end
			continue
		}
		t := addrToken{kind: c, pos: i, spaced: spaced}
		end := i + 1
		switch {
		case c == '"':
			end = closing(s, i, '"')
			if end < 0 {
				return nil, errors.New("a quoted string has no closing quote")
			}
		case c == '[':
			end = closing(s, i, ']')
			if end < 0 {
				return nil, errors.New("a domain literal has no closing bracket")
			}
		case c == ')':
			return nil, errors.New(`")" without "("`)
		case strings.IndexByte(`<>@,;:.\`, c) >= 0:
		default:
			t.kind = 'w'
			for end < len(s) && strings.IndexByte(" \t\r\n()<>[]@,;:.\\\"", s[end]) < 0 {
				end++
			}
		}
		t.text = s[i:end]
		toks = append(toks, t)
		spaced, i = false, end
	}
	return toks, nil
}

// closing returns the index just past the byte that closes the quoted
// string or domain literal opening at s[i], or -1.
func closing(s string, i int, close byte) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case close:
			return j + 1
		}
	}
	return -1
}

// skipComment returns the index just past the comment opening at s[i];
// comments nest.
func skipComment(s string, i int) (int, error) {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return j + 1, nil
			}
		}
	}
	return 0, errors.New("a comment has no closing parenthesis")
}
