// Package executor does on the local side what Argo's executor (argoexec,
// v4.0) does around a plugin's Save and Load: it packs an output as a gzip
// tarball like util/archive's TarGzToWriter, and after a Load it
// auto-detects a gzip tarball and unpacks it the way workflow/executor's
// loadArtifacts, isTarball, untar and unpack do. The behaviour is rewritten
// here from Argo's source with archive/tar and compress/gzip: the executor's
// functions are unexported, and importing util/archive would pull in the
// whole Kubernetes clientset (about 140 more packages to compile).
package executor

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
)

// Loader is the part of Argo's ArtifactDriver interface that Load needs.
type Loader interface {
	Load(ctx context.Context, inputArtifact *wfv1.Artifact, path string) error
}

// PackTarGz stages an output path as the executor's default archive strategy
// does (`archive: {tar: {}}`, gzip.DefaultCompression): it writes
// <stagingDir>/<name>.tgz and returns its path and the file name that the
// executor appends to the key.
func PackTarGz(sourcePath, stagingDir, name string) (path, fileName string, err error) {
	fileName = name + ".tgz"
	path = filepath.Join(stagingDir, fileName)
	f, err := os.Create(path)
	if err != nil {
		return "", "", err
	}
	w := bufio.NewWriter(f)
	err = tarGz(sourcePath, w)
	if err == nil {
		err = w.Flush()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	return path, fileName, err
}

// tarGz is TarGzToWriter: a folder goes in under its own base name with
// every entry (folders, files, symbolic links) from filepath.Walk; a file
// goes in alone under its base name.
func tarGz(sourcePath string, w io.Writer) error {
	sourcePath, err := filepath.Abs(sourcePath)
	if err != nil {
		return err
	}
	info, err := os.Stat(sourcePath)
	if err != nil {
		return err
	}
	gzw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gzw)
	if info.IsDir() {
		base := filepath.Base(sourcePath)
		err = filepath.Walk(sourcePath, func(p string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(sourcePath, p)
			if err != nil {
				return err
			}
			return addToTar(tw, p, filepath.ToSlash(filepath.Join(base, rel)), info)
		})
	} else {
		err = addToTar(tw, sourcePath, filepath.Base(sourcePath), info)
	}
	if closeErr := tw.Close(); err == nil {
		err = closeErr
	}
	if closeErr := gzw.Close(); err == nil {
		err = closeErr
	}
	return err
}

func addToTar(tw *tar.Writer, path, nameInArchive string, info os.FileInfo) error {
	link := info.Name()
	if info.Mode()&os.ModeSymlink != 0 {
		target, err := os.Readlink(path)
		if err != nil {
			return err
		}
		link = filepath.ToSlash(target)
	}
	header, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return err
	}
	header.Name = nameInArchive
	if err := tw.WriteHeader(header); err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	return err
}

// LoadInput is the executor's input artifact step: Load into artPath+".tmp",
// then untar (explicit tar, or auto-detected gzip tarball when the artifact
// has no archive strategy) or rename into artPath. It reports whether the
// loaded object was unpacked as a tarball.
func LoadInput(ctx context.Context, driver Loader, art *wfv1.Artifact, artPath string) (unpacked bool, err error) {
	tempArtPath := artPath + ".tmp"
	if err := os.MkdirAll(filepath.Dir(tempArtPath), 0o700); err != nil {
		return false, err
	}
	if err := driver.Load(ctx, art, tempArtPath); err != nil {
		return false, fmt.Errorf("artifact %s failed to load: %w", art.Name, err)
	}
	strategy := art.GetArchive()
	var isTar bool
	switch {
	case strategy.None != nil:
		isTar = false
	case strategy.Tar != nil:
		isTar = true
	default:
		isTar, err = IsTarball(tempArtPath)
		if err != nil {
			return false, err
		}
	}
	if isTar {
		err = Untar(tempArtPath, artPath)
		_ = os.Remove(tempArtPath)
	} else {
		err = os.Rename(tempArtPath, artPath)
	}
	return isTar, err
}

// IsTarball is the executor's detection: a gzip stream whose first tar header
// reads. A folder (what Load writes for a directory key) is not a tarball.
func IsTarball(path string) (bool, error) {
	f, err := os.Open(filepath.Clean(path))
	if err != nil {
		return false, err
	}
	defer f.Close()
	gzr, err := gzip.NewReader(f)
	if err != nil {
		return false, nil
	}
	defer gzr.Close()
	_, err = tar.NewReader(gzr).Next()
	return err == nil, nil
}

// Untar extracts into destPath+".tmpdir", then, as the executor does, renames
// a single top-level entry to destPath, or the whole folder when there are several.
func Untar(tarPath, destPath string) error {
	tmpDir := destPath + ".tmpdir"
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return err
	}
	if err := extract(tarPath, tmpDir); err != nil {
		return err
	}
	entries, err := os.ReadDir(tmpDir)
	if err != nil {
		return err
	}
	if len(entries) == 1 {
		if err := os.Rename(filepath.Join(tmpDir, entries[0].Name()), destPath); err != nil {
			return err
		}
		return os.Remove(tmpDir)
	}
	return os.Rename(tmpDir, destPath)
}

func extract(tarPath, dest string) error {
	f, err := os.Open(tarPath)
	if err != nil {
		return err
	}
	defer f.Close()
	gzr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return err
	}
	defer gzr.Close()
	tr := tar.NewReader(gzr)
	prefix := filepath.Clean(dest) + string(os.PathSeparator)
	for {
		header, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dest, filepath.Clean(header.Name))
		if !strings.HasPrefix(target, prefix) {
			return fmt.Errorf("illegal file path in tarball: %s", header.Name)
		}
		switch header.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			// The executor leaves folders at 0755; so does this, whatever the header says.
		case tar.TypeSymlink:
			linkTarget := header.Linkname
			if !filepath.IsAbs(linkTarget) {
				linkTarget = filepath.Join(filepath.Dir(target), linkTarget)
			}
			if !strings.HasPrefix(filepath.Clean(linkTarget), prefix) {
				return fmt.Errorf("illegal symlink target in tarball: %s -> %s", header.Name, header.Linkname)
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(header.Linkname, target); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_RDWR, os.FileMode(header.Mode))
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if closeErr := out.Close(); err == nil {
				err = closeErr
			}
			if err != nil {
				return err
			}
		}
	}
}
