package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// sources is what the pages are made of.
type sources struct {
	operatorDoc string // the package comment of cmd/spamrun
	usage       string // cmd/spamrun's usageText
	commands    []command
	sendmailDoc string // the package comment of sendmail
	configDoc   string // the package comment of config
	example     string // config/spamrun.toml.example
}

// command is one entry of the Commands list of cmd/spamrun's usage text.
type command struct {
	synopsis    string // "queue list [--json] [--all|--quarantine] [SITE]"
	description string
}

func readSources(root string) (*sources, error) {
	var src sources
	var err error
	var consts map[string]string
	if src.operatorDoc, consts, err = packageDoc(filepath.Join(root, "cmd/spamrun")); err != nil {
		return nil, err
	}
	var ok bool
	if src.usage, ok = consts["usageText"]; !ok {
		return nil, fmt.Errorf("cmd/spamrun has no constant usageText")
	}
	if src.commands, err = parseCommands(src.usage); err != nil {
		return nil, fmt.Errorf("cmd/spamrun usageText: %w", err)
	}
	if src.sendmailDoc, _, err = packageDoc(filepath.Join(root, "sendmail")); err != nil {
		return nil, err
	}
	if src.configDoc, _, err = packageDoc(filepath.Join(root, "config")); err != nil {
		return nil, err
	}
	example, err := os.ReadFile(filepath.Join(root, "config/spamrun.toml.example"))
	if err != nil {
		return nil, err
	}
	src.example = string(example)
	return &src, nil
}

// packageDoc returns the package comment of the Go package in dir, without
// its tests, and the string constants it declares.
func packageDoc(dir string) (doc string, consts map[string]string, err error) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", nil, err
	}
	consts = make(map[string]string)
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments)
		if err != nil {
			return "", nil, err
		}
		if f.Doc != nil {
			if doc != "" {
				return "", nil, fmt.Errorf("%s: two package comments (%s is the second)", dir, name)
			}
			doc = f.Doc.Text()
		}
		stringConsts(f, consts)
	}
	if doc == "" {
		return "", nil, fmt.Errorf("%s: no package comment", dir)
	}
	return doc, consts, nil
}

// stringConsts adds the string constants f declares to consts.
func stringConsts(f *ast.File, consts map[string]string) {
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i >= len(vs.Values) {
					break
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				if s, err := strconv.Unquote(lit.Value); err == nil {
					consts[name.Name] = s
				}
			}
		}
	}
}

// parseCommands reads the Commands list of a usage text: an entry is a
// line indented by two spaces, its description after a gap of two or more
// spaces or on the lines below it, which are indented further.
func parseCommands(usage string) ([]command, error) {
	_, list, ok := strings.Cut(usage, "\nCommands:\n")
	if !ok {
		return nil, fmt.Errorf("no line \"Commands:\"")
	}
	var cmds []command
	for _, line := range strings.Split(list, "\n") {
		switch {
		case strings.TrimSpace(line) == "":
			if len(cmds) > 0 {
				return cmds, nil
			}
		case strings.HasPrefix(line, "   "):
			if len(cmds) == 0 {
				return nil, fmt.Errorf("a description before the first command: %q", line)
			}
			c := &cmds[len(cmds)-1]
			c.description = strings.TrimSpace(c.description + " " + strings.TrimSpace(line))
		case strings.HasPrefix(line, "  "):
			synopsis, description, _ := strings.Cut(strings.TrimSpace(line), "  ")
			cmds = append(cmds, command{synopsis: synopsis, description: strings.TrimSpace(description)})
		default:
			return cmds, nil
		}
	}
	if len(cmds) == 0 {
		return nil, fmt.Errorf("no commands listed")
	}
	return cmds, nil
}
