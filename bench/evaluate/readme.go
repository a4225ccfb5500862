package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// The lines of README.md between which -readme writes the table.
const (
	beginMarker = "<!-- evaluate:begin -->"
	endMarker   = "<!-- evaluate:end -->"
)

// replaceBlock returns doc with what lies between the marker lines
// replaced by block, set off by blank lines. Each marker must be a line
// of its own, once, the begin marker first.
func replaceBlock(doc, block string) (string, error) {
	_, afterBegin, errBegin := markerLine(doc, beginMarker)
	end, _, errEnd := markerLine(doc, endMarker)
	if err := errors.Join(errBegin, errEnd); err != nil {
		return "", err
	}
	if end < afterBegin {
		return "", errors.New("evaluate: " + endMarker + " comes before " + beginMarker)
	}
	if block != "" && !strings.HasSuffix(block, "\n") {
		block += "\n"
	}
	return doc[:afterBegin] + "\n" + block + "\n" + doc[end:], nil
}

// markerLine returns where the line that is marker starts and ends, its
// line break included.
func markerLine(doc, marker string) (start, end int, err error) {
	start = -1
	offset := 0
	for line := range strings.Lines(doc) {
		if strings.TrimRight(line, "\r\n") == marker {
			if start >= 0 {
				return 0, 0, errors.New("evaluate: " + marker + " appears twice")
			}
			start, end = offset, offset+len(line)
		}
		offset += len(line)
	}
	if start < 0 {
		return 0, 0, errors.New("evaluate: no line " + marker)
	}
	return start, end, nil
}

// updateReadme puts block between the markers of the file name, replacing
// the file at once so that a reader never sees half of it.
func updateReadme(name, block string) error {
	doc, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	out, err := replaceBlock(string(doc), block)
	if err != nil {
		return err
	}
	return writeFileAtomic(name, []byte(out))
}

// writeFileAtomic writes data to a temporary file beside name and renames
// it over name, keeping name's permissions.
func writeFileAtomic(name string, data []byte) error {
	st, err := os.Stat(name)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename, there is none
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(st.Mode().Perm()); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}
