package sitediff

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"path"
	"path/filepath"
	"slices"
	"sync"
)

// read hashes, sniffs and scans the candidates that need it, a bounded
// number at a time.
func (c *comparison) read() {
	jobs := make(chan *candidate)
	var wg sync.WaitGroup
	for range c.opts.Workers {
		wg.Go(func() {
			var buf []byte
			for f := range jobs {
				buf = c.readFile(f, buf)
			}
		})
	}
	for _, f := range c.files {
		if f.hash || f.sniff || f.scan {
			jobs <- f
		}
	}
	close(jobs)
	wg.Wait()
	for _, f := range c.files {
		if f.hashed {
			c.report.Stats.Hashed += 2
		}
		if f.scanned {
			c.report.Stats.Scanned++
		}
	}
}

// readFile reads the site's file once: its head for the sniff and the
// scan, all of it for the hash. It reads into buf and returns it, grown
// as needed, for the next file.
func (c *comparison) readFile(f *candidate, buf []byte) []byte {
	file, err := c.opts.open(filepath.Join(c.site, filepath.FromSlash(f.Path)))
	if err != nil {
		c.unreadable(f, "site", err)
		return buf
	}
	defer file.Close()
	head, err := c.head(f, file, buf[:0])
	if err != nil {
		c.unreadable(f, "site", err)
		return head[:0]
	}
	if f.scan {
		f.scanned = true
		if path.Base(f.Path) == ".htaccess" {
			f.Markers = append(f.Markers, htaccessMarkers(head)...)
		} else {
			f.Markers = append(f.Markers, Scan(head)...)
		}
	}
	if f.hash {
		c.compareContents(f, file, head)
	}
	return head[:0]
}

// head reads what is to be scanned of the file: MaxScan bytes of PHP, the
// sniff of another file, and MaxScan bytes of it when PHP is found.
func (c *comparison) head(f *candidate, file io.Reader, buf []byte) ([]byte, error) {
	limit := 0
	switch {
	case f.scan:
		limit = c.opts.MaxScan
	case f.sniff:
		limit = sniffLen
	}
	head, err := readHead(file, buf, min(int64(limit), f.node.size))
	if err != nil || !f.sniff {
		return head, err
	}
	at := phpOpenTag(head)
	if at < 0 {
		return head, nil
	}
	f.PHP, f.scan = true, true
	f.Markers = append(f.Markers, disguised(head, at))
	return readHead(file, head, min(int64(c.opts.MaxScan-len(head)), f.node.size-int64(len(head))))
}

// compareContents hashes the rest of the site's file after head and the
// snapshot's file, and marks the file changed when they differ.
func (c *comparison) compareContents(f *candidate, file io.Reader, head []byte) {
	h := sha256.New()
	h.Write(head)
	if err := copyInto(h, file); err != nil {
		c.unreadable(f, "site", err)
		return
	}
	theirs, err := c.hashFile(f.Path)
	if err != nil {
		c.unreadable(f, "snapshot", err)
		return
	}
	f.hashed = true
	if !bytes.Equal(h.Sum(nil), theirs) {
		f.Change = Changed
		f.Why = append(f.Why, "changed: same size, other contents")
	}
}

// unreadable notes that a file could not be read. When its contents
// were to be compared, it counts as changed: nothing says it is not.
func (c *comparison) unreadable(f *candidate, root string, err error) {
	f.errs = append(f.errs, Skipped{Path: f.Path, Root: root, Reason: reasonOf(err)})
	if f.hash {
		f.Change = Changed
		f.Why = append(f.Why, "changed: the mtime differs and the contents could not be compared")
	}
}

func (c *comparison) hashFile(rel string) ([]byte, error) {
	file, err := c.opts.open(filepath.Join(c.snapshot, filepath.FromSlash(rel)))
	if err != nil {
		return nil, err
	}
	defer file.Close()
	h := sha256.New()
	if err := copyInto(h, file); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// copyBufs are the buffers of copyInto: io.Copy would allocate 32 kB a
// file, and --content hashes every file of the site and the snapshot.
var copyBufs = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// copyInto copies the rest of r to w.
func copyInto(w io.Writer, r io.Reader) error {
	buf := copyBufs.Get().(*[32 << 10]byte)
	defer copyBufs.Put(buf)
	_, err := io.CopyBuffer(w, r, buf[:])
	return err
}

// readHead appends up to n bytes of r to buf; a file shorter than lstat
// said is fine.
func readHead(r io.Reader, buf []byte, n int64) ([]byte, error) {
	if n <= 0 {
		return buf, nil
	}
	buf = slices.Grow(buf, int(n))
	k, err := io.ReadFull(r, buf[len(buf):len(buf)+int(n)])
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = nil
	}
	return buf[:len(buf)+k], err
}

var errNotRegular = errors.New("not a regular file")

// phpOpenTag returns where PHP code opens in data, or -1.
func phpOpenTag(data []byte) int {
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte("<?"))
		if j < 0 {
			return -1
		}
		at := i + j
		rest := data[at+2:]
		if len(rest) >= 3 && bytes.EqualFold(rest[:3], []byte("php")) || len(rest) > 0 && rest[0] == '=' {
			return at
		}
		i = at + 2
	}
}

// disguised is the marker of PHP code in a file PHP should not run.
func disguised(data []byte, at int) Marker {
	line := bytes.Count(data[:at], []byte("\n")) + 1
	end := min(len(data), at+excerptLen)
	if nl := bytes.IndexByte(data[at:end], '\n'); nl >= 0 {
		end = at + nl
	}
	return Marker{Name: "php-disguised", Weight: weightDisguisedPHP, Line: line, Excerpt: printable(data[at:end])}
}

// htaccessMarkers finds an .htaccess that makes the web server run
// images or text files as PHP: the other half of the disguised script.
func htaccessMarkers(data []byte) []Marker {
	var out []Marker
	lower := bytes.ToLower(data)
	images := [][]byte{[]byte(".jpg"), []byte(".jpeg"), []byte(".png"), []byte(".gif"), []byte(".ico"), []byte(".txt"), []byte(".bmp"), []byte("jpe?g"), []byte("jpg|"), []byte("|jpg"), []byte("gif|"), []byte("|gif"), []byte("png|"), []byte("|png")}
	mentionsImage := func(b []byte) bool {
		for _, img := range images {
			if bytes.Contains(b, img) {
				return true
			}
		}
		return false
	}
	filesMatchImage := bytes.Contains(lower, []byte("<files")) && mentionsImage(lower)
	for i, line := range bytes.Split(lower, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if !bytes.Contains(t, []byte("php")) {
			continue
		}
		handler := bytes.HasPrefix(t, []byte("addtype")) || bytes.HasPrefix(t, []byte("addhandler"))
		set := bytes.HasPrefix(t, []byte("sethandler")) || bytes.HasPrefix(t, []byte("forcetype"))
		if handler && mentionsImage(t) || set && filesMatchImage {
			out = append(out, Marker{Name: "htaccess-php-handler", Weight: weightHtaccessPHP, Line: i + 1, Excerpt: printable(bytes.Split(data, []byte("\n"))[i])})
		}
	}
	return out
}
