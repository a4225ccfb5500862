//go:build unix

package sitediff

import (
	"io"
	"io/fs"
	"syscall"
)

// openRegular opens a regular file for reading without following a link
// and without blocking on a fifo, in case the file was swapped between
// the walk and the open. It uses the system calls directly: os.Open
// costs a poller registration per file, which is most of the time of a
// scan of small files.
func openRegular(name string) (io.ReadCloser, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(name, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		syscall.Close(fd)
		return nil, &fs.PathError{Op: "open", Path: name, Err: errNotRegular}
	}
	return &fdFile{fd: fd, name: name}, nil
}

// fdFile is an open regular file.
type fdFile struct {
	fd   int
	name string
}

func (f *fdFile) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := syscall.Read(f.fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return 0, &fs.PathError{Op: "read", Path: f.name, Err: err}
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (f *fdFile) Close() error { return syscall.Close(f.fd) }
