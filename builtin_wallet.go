package spamrun

import (
	"strings"
	"unicode/utf8"
)

// Cryptocurrency wallet addresses: extortion and investment scams say
// where to pay. A shop that takes bitcoin links to its payment provider
// instead of printing an address in a message.

// scoreWallets adds CRYPTO_WALLET when the subject or the text holds a
// bitcoin or ether address. The HTML's markup is left out: its links and
// image names carry long random identifiers.
func scoreWallets(sc *Score, msg *Message) {
	var found []string
	for _, s := range [...]string{msg.Subject, msg.Text} {
		found = appendWallets(found, s)
		if len(found) >= maxExamples {
			break
		}
	}
	if len(found) > 0 {
		sc.Add("CRYPTO_WALLET", 1.5, "cryptocurrency wallet address: "+examples(found))
	}
}

// appendWallets appends the distinct wallet addresses in s to list, up to
// maxExamples in all.
func appendWallets(list []string, s string) []string {
	for i := 0; i < len(s) && len(list) < maxExamples; {
		if !isAddrByte(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isAddrByte(s[j]) {
			j++
		}
		if w := s[i:j]; isWallet(w) {
			list = appendDistinct(list, w)
		}
		i = j
	}
	return list
}

func isAddrByte(b byte) bool {
	return b < utf8.RuneSelf && asciiClass[b]&(clsLetter|clsDigit) != 0
}

// isWallet reports whether w is a bitcoin address (legacy base58 or
// bech32 segwit) or an ether address.
func isWallet(w string) bool {
	switch {
	case len(w) >= 42 && len(w) <= 62 && strings.HasPrefix(w, "bc1"):
		return strings.Trim(w[3:], bech32Chars) == ""
	case len(w) == 42 && strings.HasPrefix(w, "0x"):
		return strings.Trim(w[2:], "0123456789abcdefABCDEF") == ""
	case len(w) >= 33 && len(w) <= 34 && (w[0] == '1' || w[0] == '3'):
		// Pay-to-key-hash and pay-to-script-hash addresses are 33 or 34
		// characters, but for the rare one whose hash begins with zeros.
		if strings.Trim(w, base58Chars) != "" {
			return false
		}
		// Base58 text has both cases and digits; a long run of one of
		// them is an order or tracking number.
		var upper, lower, digit bool
		for _, c := range []byte(w[1:]) {
			switch {
			case c >= 'A' && c <= 'Z':
				upper = true
			case c >= 'a' && c <= 'z':
				lower = true
			default:
				digit = true
			}
		}
		return upper && lower && digit
	}
	return false
}

const (
	bech32Chars = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
	base58Chars = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
)
