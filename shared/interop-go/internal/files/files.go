// Package files makes the local trees the scenarios save, and checks what
// comes back: whole trees after a Load, and byte streams after an OpenStream.
// Everything is streamed; no artifact is held in memory.
package files

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Content is the deterministic pseudo-random content of a file: the same name
// and size always give the same bytes, so expectations need no copy.
func Content(name string, size int64) io.Reader {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	var seed [32]byte
	sum := h.Sum(nil)
	for i := range seed {
		seed[i] = sum[i%len(sum)] ^ byte(i)
	}
	return io.LimitReader(rand.NewChaCha8(seed), size)
}

// Digest is what a scenario knows about a byte stream it expects back.
type Digest struct {
	Size   int64
	SHA256 string
}

func (d Digest) String() string { return fmt.Sprintf("%d bytes, sha256 %s", d.Size, d.SHA256[:12]) }

// DigestOf reads r to its end.
func DigestOf(r io.Reader) (Digest, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return Digest{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, err
}

// DigestFile digests the file at path.
func DigestFile(path string) (Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		return Digest{}, err
	}
	defer f.Close()
	return DigestOf(f)
}

// WriteFile writes Content(name, size) to path, creating parent folders.
func WriteFile(path, name string, size int64, mode fs.FileMode) (Digest, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return Digest{}, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return Digest{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), Content(name, size))
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Chmod(path, mode)
	}
	return Digest{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, err
}

// ErrStreamMismatch is wrapped by every failure of VerifyStream that is about
// the bytes themselves (as opposed to a read error the client reported).
var ErrStreamMismatch = errors.New("stream does not hold the artifact's bytes")

// VerifyStream is the check every scenario applies to an OpenStream: it reads
// the stream to its end and fails on a read error, on a different length and
// on different bytes. Argo's client turns a stream that ends early without an
// error into a clean EOF, so only this comparison catches a truncated download.
func VerifyStream(r io.Reader, want Digest) error {
	got, err := DigestOf(r)
	if err != nil {
		return fmt.Errorf("reading the stream failed after %d bytes: %w", got.Size, err)
	}
	if got.Size != want.Size {
		return fmt.Errorf("%w: the stream ended cleanly after %d bytes, the artifact has %d (truncated or padded download)", ErrStreamMismatch, got.Size, want.Size)
	}
	if got.SHA256 != want.SHA256 {
		return fmt.Errorf("%w: %d bytes as expected but sha256 %s, want %s", ErrStreamMismatch, got.Size, got.SHA256, want.SHA256)
	}
	return nil
}

// Entry describes one path of a tree to create.
type Entry struct {
	Path string      // slash-separated, relative
	Size int64       // for files
	Mode fs.FileMode // permission bits; 0 means 0644 (files) or 0755 (folders)
	Dir  bool        // an (empty) folder
	Link string      // a symbolic link to this target
}

// WriteTree creates the entries under root.
func WriteTree(root string, entries []Entry) error {
	for _, e := range entries {
		p := filepath.Join(root, filepath.FromSlash(e.Path))
		switch {
		case e.Dir:
			mode := e.Mode
			if mode == 0 {
				mode = 0o755
			}
			if err := os.MkdirAll(p, mode); err != nil {
				return err
			}
		case e.Link != "":
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(e.Link, p); err != nil {
				return err
			}
		default:
			mode := e.Mode
			if mode == 0 {
				mode = 0o644
			}
			if _, err := WriteFile(p, e.Path, e.Size, mode); err != nil {
				return err
			}
		}
	}
	return nil
}

// FilePaths lists the relative paths of the regular files among entries, sorted.
func FilePaths(entries []Entry) []string {
	var paths []string
	for _, e := range entries {
		if !e.Dir && e.Link == "" {
			paths = append(paths, e.Path)
		}
	}
	slices.Sort(paths)
	return paths
}

// CompareOptions says which properties a round trip must keep.
type CompareOptions struct {
	// Modes compares permission bits (a tarball keeps them; object stores do not).
	Modes bool
	// Folders compares folders too, empty ones included (a tarball keeps them;
	// object stores only know folders through the files in them).
	Folders bool
}

// CompareTrees reports every difference between the trees at want and got.
func CompareTrees(want, got string, opts CompareOptions) error {
	w, err := describeTree(want, opts)
	if err != nil {
		return fmt.Errorf("reading the expected tree: %w", err)
	}
	g, err := describeTree(got, opts)
	if err != nil {
		return fmt.Errorf("reading the loaded tree: %w", err)
	}
	var problems []string
	for path, desc := range w {
		switch other, ok := g[path]; {
		case !ok:
			problems = append(problems, fmt.Sprintf("missing %q (%s)", path, desc))
		case other != desc:
			problems = append(problems, fmt.Sprintf("%q is %s, want %s", path, other, desc))
		}
	}
	for path, desc := range g {
		if _, ok := w[path]; !ok {
			problems = append(problems, fmt.Sprintf("unexpected %q (%s)", path, desc))
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("the loaded tree differs from the saved one: %s", strings.Join(problems, "; "))
	}
	return nil
}

func describeTree(root string, opts CompareOptions) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := ""
		if opts.Modes {
			mode = fmt.Sprintf(" mode %o", info.Mode().Perm())
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "link to " + target
		case d.IsDir():
			if opts.Folders {
				out[rel] = "folder" + mode
			}
		case d.Type().IsRegular():
			digest, err := DigestFile(p)
			if err != nil {
				return err
			}
			out[rel] = "file of " + digest.String() + mode
		default:
			out[rel] = "special file " + d.Type().String()
		}
		return nil
	})
	return out, err
}
