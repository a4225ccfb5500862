// Command spamrun is the operator's tool.
//
//	spamrun score [--scorer builtin|spamassassin|rspamd] [--address ADDR] FILE...
//
// score prints one JSON object per file and line, as scripts want it:
//
//	{"file":"a.eml","score":7.2,"spam":true,"rules":[{"name":"GTUBE","score":1000}]}
//
// The scorer and its address default to the [scorer] table of the
// configuration, and "spam" to its spam_score.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/spamrun/spamrun"
	"github.com/spamrun/spamrun/config"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: spamrun score [--scorer builtin|spamassassin|rspamd] [--address ADDR] FILE...")
		return 64
	}
	switch args[0] {
	case "score":
		return score(args[1:], stdout, stderr)
	case "enable":
		return enable(args[1:], stdout, stderr)
	case "queue":
		if len(args) > 1 && args[1] == "run" {
			return queueRun(args[2:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "spamrun: unknown command %q\n", args[0])
	return 64
}

// scoreLine is one line of spamrun score's output.
type scoreLine struct {
	File  string     `json:"file"`
	Score float64    `json:"score"`
	Spam  bool       `json:"spam"`
	Rules []ruleJSON `json:"rules"`
	Error string     `json:"error,omitempty"`
}

type ruleJSON struct {
	Name  string  `json:"name"`
	Score float64 `json:"score"`
}

func score(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("spamrun score", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kind := fs.String("scorer", "", "builtin, spamassassin or rspamd (default: the configuration's)")
	address := fs.String("address", "", "the filter's address (default: the configuration's)")
	if err := fs.Parse(args); err != nil {
		return 64
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "spamrun score: no files")
		return 64
	}
	cfg, err := config.LoadDefault(os.Getenv, false)
	if err != nil {
		fmt.Fprintln(stderr, "spamrun:", err)
		return 78
	}
	if *kind != "" {
		cfg.Scorer.Kind = *kind
	}
	if *address != "" {
		cfg.Scorer.Address = *address
	}
	scorer, err := cfg.NewScorer(true)
	if err != nil {
		fmt.Fprintln(stderr, "spamrun:", err)
		return 64
	}
	threshold := cfg.DefaultPolicy.SpamScore
	enc := json.NewEncoder(stdout)
	failed := false
	for _, file := range fs.Args() {
		line := scoreLine{File: file, Rules: []ruleJSON{}}
		s, err := scoreFile(scorer, file)
		if err != nil {
			line.Error = err.Error()
			failed = true
		} else {
			line.Score, line.Spam = s.Value, s.Value >= threshold
			for _, r := range s.Rules {
				line.Rules = append(line.Rules, ruleJSON{Name: r.Name, Score: r.Points})
			}
		}
		if err := enc.Encode(line); err != nil {
			fmt.Fprintln(stderr, "spamrun:", err)
			return 74
		}
	}
	if failed {
		return 1
	}
	return 0
}

func scoreFile(scorer spamrun.Scorer, file string) (spamrun.Score, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return spamrun.Score{}, err
	}
	msg, err := spamrun.ParseMessage(raw, "", nil)
	if err != nil {
		return spamrun.Score{}, err
	}
	return scorer.Score(context.Background(), msg)
}
