package spamassassin_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/spamassassin"
)

// fakeSpamd answers one request the way spamd 4.0 answers REPORT for the
// GTUBE test message.
func fakeSpamd() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() {
		defer l.Close()
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		n := 0
		for {
			line, _ := br.ReadString('\n')
			if v, ok := strings.CutPrefix(line, "Content-length: "); ok {
				n, _ = strconv.Atoi(strings.TrimSpace(v))
			}
			if line == "\r\n" || line == "" {
				break
			}
		}
		io.CopyN(io.Discard, br, int64(n))
		report := "Content analysis details:   (1003.3 points, 5.0 required)\n\n" +
			" pts rule name              description\n" +
			"---- ---------------------- --------------------------------------------------\n" +
			" 0.6 MISSING_MID            Missing Message-Id: header\n" +
			" 2.7 MISSING_DATE           Missing Date: header\n" +
			"1000 GTUBE                  BODY: Generic Test for Unsolicited Bulk Email\n\n"
		fmt.Fprintf(c, "SPAMD/1.1 0 EX_OK\r\nContent-length: %d\r\nSpam: True ; 1003.3 / 5.0\r\n\r\n%s", len(report), report)
	}()
	return l.Addr().String()
}

func Example() {
	addr := fakeSpamd() // in production: the address spamd --listen was given

	msg, err := spamrun.ParseMessage([]byte("Subject: test\r\n\r\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n"),
		"www-data@example.com", []string{"someone@example.org"})
	if err != nil {
		panic(err)
	}
	scorer := &spamassassin.Scorer{Addr: addr}
	score, err := scorer.Score(context.Background(), msg)
	if spamassassin.IsTemporary(err) {
		fmt.Println("spamd is unavailable, try again later:", err)
		return
	}
	if err != nil {
		panic(err)
	}
	fmt.Printf("score %.1f\n", score.Value)
	for _, r := range score.Top(2) {
		fmt.Printf("%6.1f %s: %s\n", r.Points, r.Name, r.Reason)
	}
	// Output:
	// score 1003.3
	// 1000.0 GTUBE: BODY: Generic Test for Unsolicited Bulk Email
	//    2.7 MISSING_DATE: Missing Date: header
}
