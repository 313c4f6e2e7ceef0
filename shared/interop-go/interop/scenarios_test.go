package interop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v4/util/retry"
	waitutil "github.com/argoproj/argo-workflows/v4/util/wait"
	"github.com/argoproj/argo-workflows/v4/workflow/artifacts/common"

	"github.com/argo-artifact-drivers/interop-go/internal/executor"
	"github.com/argo-artifact-drivers/interop-go/internal/files"
)

// env is what a scenario works with: Argo's client connected to a plugin, the
// artifact location fields, and a local folder standing for the pod's disk.
// Scenarios return an error instead of failing a test so that the negative
// tests can run them against a deliberately wrong server.
type env struct {
	driver        common.ArtifactDriver
	pluginName    string
	configuration string
	timeout       int32
	work          string // local scratch folder
	keyBase       string // plays `{{workflow.name}}/{{pod.name}}`, Argo's default keyFormat
	largeSize     int64
}

// artifact is an artifact as the executor hands it to the driver after
// resolving the artifact repository: plugin location with its full key.
func (e *env) artifact(name, key string, archiveNone bool) *wfv1.Artifact {
	art := &wfv1.Artifact{
		Name: name,
		ArtifactLocation: wfv1.ArtifactLocation{Plugin: &wfv1.PluginArtifact{
			Name:                     wfv1.ArtifactPluginName(e.pluginName),
			Configuration:            e.configuration,
			ConnectionTimeoutSeconds: e.timeout,
			Key:                      key,
		}},
	}
	if archiveNone {
		art.Archive = &wfv1.ArchiveStrategy{None: &wfv1.NoneStrategy{}}
	}
	return art
}

func (e *env) dir(name string) (string, error) {
	p := filepath.Join(e.work, name)
	return p, os.MkdirAll(p, 0o755)
}

type scenario struct {
	name string
	run  func(context.Context, *env) error
}

var scenarios = []scenario{
	{"executor/tarball-directory", tarballDirectory},
	{"executor/tarball-file", tarballFile},
	{"executor/archive-none-file", archiveNoneFile},
	{"executor/archive-none-directory", archiveNoneDirectory},
	{"gc/delete-twice", garbageCollection},
	{"server/browse-directory", browseDirectory},
	{"server/open-file", openFile},
	{"server/missing-key", missingKey},
}

// outputTree is an output folder as a step leaves it: nested folders, an
// empty file, an empty folder, an executable, a symbolic link, names with
// spaces, unicode and URL-special characters, and one file over a MiB.
var outputTree = []files.Entry{
	{Path: "a.txt", Size: 100},
	{Path: "empty.txt", Size: 0},
	{Path: "bin/data.bin", Size: 1<<20 + 7},
	{Path: "bin/run.sh", Size: 300, Mode: 0o755},
	{Path: "secret.key", Size: 64, Mode: 0o600},
	{Path: "sub dir/naïve #1+%.txt", Size: 2048},
	{Path: "deep/x/y/z.txt", Size: 10},
	{Path: "empty-folder", Dir: true},
	{Path: "link-to-a", Link: "a.txt"},
}

// objectTree is what an object store can hold for `archive: none`: files only.
var objectTree = []files.Entry{
	{Path: "a.txt", Size: 100},
	{Path: "empty.txt", Size: 0},
	{Path: "bin/data.bin", Size: 1<<20 + 7},
	{Path: "sub dir/naïve #1+%.txt", Size: 2048},
	{Path: "deep/x/y/z.txt", Size: 10},
}

// tarballDirectory: the executor's default for an output folder. It packs
// the folder as <name>.tgz, Saves it under <keyBase>/<name>.tgz; the next
// step Loads it to <path>.tmp, detects a gzip tarball and unpacks it.
func tarballDirectory(ctx context.Context, e *env) error {
	out, err := e.dir("main/out")
	if err != nil {
		return err
	}
	if err := files.WriteTree(out, outputTree); err != nil {
		return err
	}
	staging, err := e.dir("staging")
	if err != nil {
		return err
	}
	tgz, fileName, err := executor.PackTarGz(out, staging, "results")
	if err != nil {
		return fmt.Errorf("packing the output: %w", err)
	}
	key := path.Join(e.keyBase, fileName)
	if err := e.driver.Save(ctx, tgz, e.artifact("results", key, false)); err != nil {
		return err
	}
	inputs, err := e.dir("inputs")
	if err != nil {
		return err
	}
	artPath := filepath.Join(inputs, "results")
	unpacked, err := executor.LoadInput(ctx, e.driver, e.artifact("results", key, false), artPath)
	if err != nil {
		return err
	}
	if !unpacked {
		return errors.New("the executor did not detect a gzip tarball in what Load wrote: the plugin must hand back the saved .tgz unchanged")
	}
	return files.CompareTrees(out, artPath, files.CompareOptions{Modes: true, Folders: true})
}

// tarballFile: a single output file, also packed as a tarball by default.
func tarballFile(ctx context.Context, e *env) error {
	main, err := e.dir("main")
	if err != nil {
		return err
	}
	src := filepath.Join(main, "metrics.json")
	if _, err := files.WriteFile(src, "metrics.json", 5000, 0o644); err != nil {
		return err
	}
	staging, err := e.dir("staging")
	if err != nil {
		return err
	}
	tgz, fileName, err := executor.PackTarGz(src, staging, "metrics")
	if err != nil {
		return err
	}
	key := path.Join(e.keyBase, fileName)
	if err := e.driver.Save(ctx, tgz, e.artifact("metrics", key, false)); err != nil {
		return err
	}
	inputs, err := e.dir("inputs")
	if err != nil {
		return err
	}
	artPath := filepath.Join(inputs, "metrics")
	unpacked, err := executor.LoadInput(ctx, e.driver, e.artifact("metrics", key, false), artPath)
	if err != nil {
		return err
	}
	if !unpacked {
		return errors.New("the executor did not detect a gzip tarball in what Load wrote")
	}
	want, err := files.DigestFile(src)
	if err != nil {
		return err
	}
	f, err := os.Open(artPath)
	if err != nil {
		return fmt.Errorf("the unpacked input is not a file: %w", err)
	}
	defer f.Close()
	return files.VerifyStream(f, want)
}

// archiveNoneFile: `archive: {none: {}}` on a file. The executor Saves the
// file itself under <keyBase>/<base name>; Load writes it to <path>.tmp,
// which is renamed without any detection.
func archiveNoneFile(ctx context.Context, e *env) error {
	main, err := e.dir("main")
	if err != nil {
		return err
	}
	src := filepath.Join(main, "report.csv")
	want, err := files.WriteFile(src, "report.csv", 3<<20+1, 0o644)
	if err != nil {
		return err
	}
	key := path.Join(e.keyBase, "report.csv")
	if err := e.driver.Save(ctx, src, e.artifact("report", key, true)); err != nil {
		return err
	}
	inputs, err := e.dir("inputs")
	if err != nil {
		return err
	}
	artPath := filepath.Join(inputs, "report")
	if _, err := executor.LoadInput(ctx, e.driver, e.artifact("report", key, true), artPath); err != nil {
		return err
	}
	f, err := os.Open(artPath)
	if err != nil {
		return err
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		return fmt.Errorf("Load of a file key must write a regular file at the path (stat: %v, %v)", info, err)
	}
	return files.VerifyStream(f, want)
}

// archiveNoneDirectory: `archive: {none: {}}` on a folder. The executor
// passes the folder itself to Save; Load must recreate the tree.
func archiveNoneDirectory(ctx context.Context, e *env) error {
	key, src, err := saveObjectTree(ctx, e, "dataset")
	if err != nil {
		return err
	}
	inputs, err := e.dir("inputs")
	if err != nil {
		return err
	}
	artPath := filepath.Join(inputs, "dataset")
	if _, err := executor.LoadInput(ctx, e.driver, e.artifact("dataset", key, true), artPath); err != nil {
		return err
	}
	return files.CompareTrees(src, artPath, files.CompareOptions{})
}

// saveObjectTree writes objectTree into main/<name> and Saves the folder
// with `archive: none` under <keyBase>/<name>.
func saveObjectTree(ctx context.Context, e *env, name string) (key, src string, err error) {
	src, err = e.dir("main/" + name)
	if err != nil {
		return "", "", err
	}
	if err := files.WriteTree(src, objectTree); err != nil {
		return "", "", err
	}
	key = path.Join(e.keyBase, name)
	return key, src, e.driver.Save(ctx, src, e.artifact(name, key, true))
}

// gcDelete is what the artifact GC pod does for each artifact.
func gcDelete(ctx context.Context, driver common.ArtifactDriver, art *wfv1.Artifact) error {
	return waitutil.Backoff(retry.DefaultRetry(ctx), func() (bool, error) {
		if err := driver.Delete(ctx, art); err != nil {
			return false, err
		}
		return true, nil
	})
}

// garbageCollection: GC deletes a file key and a folder key (once with the
// trailing slash Argo's own S3 GC uses for folders), then runs again over
// the same artifacts, which must succeed too. Everything must be gone.
func garbageCollection(ctx context.Context, e *env) error {
	main, err := e.dir("main")
	if err != nil {
		return err
	}
	src := filepath.Join(main, "model.bin")
	if _, err := files.WriteFile(src, "model.bin", 4096, 0o644); err != nil {
		return err
	}
	fileKey := path.Join(e.keyBase, "model.bin")
	if err := e.driver.Save(ctx, src, e.artifact("model", fileKey, true)); err != nil {
		return err
	}
	dirKey, _, err := saveObjectTree(ctx, e, "dataset")
	if err != nil {
		return err
	}
	for round, dirKeyAsGiven := range []string{dirKey + "/", dirKey} {
		for _, art := range []*wfv1.Artifact{e.artifact("model", fileKey, true), e.artifact("dataset", dirKeyAsGiven, true)} {
			if err := gcDelete(ctx, e.driver, art); err != nil {
				return fmt.Errorf("garbage collection round %d of %q: %w", round+1, art.Plugin.Key, err)
			}
		}
		if err := mustBeGone(ctx, e, fileKey, false); err != nil {
			return fmt.Errorf("after garbage collection round %d: %w", round+1, err)
		}
		if err := mustBeGone(ctx, e, dirKey, true); err != nil {
			return fmt.Errorf("after garbage collection round %d: %w", round+1, err)
		}
	}
	return nil
}

// mustBeGone checks that nothing is readable at key any more.
func mustBeGone(ctx context.Context, e *env, key string, wasDir bool) error {
	art := e.artifact("gone", key, true)
	if isDir, err := e.driver.IsDirectory(ctx, art); err != nil || isDir {
		return fmt.Errorf("IsDirectory(%q) = %v, %v; want false without error", key, isDir, err)
	}
	objects, err := e.driver.ListObjects(ctx, art)
	if err == nil && len(objects) > 0 {
		return fmt.Errorf("ListObjects(%q) still lists %q", key, objects)
	}
	if !wasDir {
		if err := loadMustFailNotFound(ctx, e, key); err != nil {
			return err
		}
		return openMustFail(ctx, e, key)
	}
	return openMustFail(ctx, e, path.Join(key, "a.txt"))
}

func loadMustFailNotFound(ctx context.Context, e *env, key string) error {
	target := filepath.Join(e.work, "load-missing.tmp")
	defer os.RemoveAll(target)
	err := e.driver.Load(ctx, e.artifact("missing", key, true), target)
	if err == nil {
		return fmt.Errorf("Load(%q) of a missing key succeeded", key)
	}
	msg := strings.ToLower(err.Error())
	if !strings.Contains(msg, "not found") && !strings.Contains(msg, "not-found") {
		return fmt.Errorf("Load(%q) of a missing key must say the key was not found, said: %v", key, err)
	}
	if _, statErr := os.Lstat(target); statErr == nil {
		return fmt.Errorf("Load(%q) failed but left something at %s", key, target)
	}
	return nil
}

// openMustFail: downloading a missing key in the UI must fail, never yield an
// empty file.
func openMustFail(ctx context.Context, e *env, key string) error {
	stream, err := e.driver.OpenStream(ctx, e.artifact("missing", key, true))
	if err != nil {
		return nil
	}
	defer stream.Close()
	n, err := io.Copy(io.Discard, stream)
	if err == nil {
		return fmt.Errorf("OpenStream(%q) of a missing key ended cleanly after %d bytes: the UI would serve a %d-byte download instead of an error", key, n, n)
	}
	return nil
}

// browseDirectory: the UI opens a folder artifact. argo-server asks
// IsDirectory, then ListObjects and trims `<key>/` from every object to
// render the listing, then opens a file by appending its name to the key.
func browseDirectory(ctx context.Context, e *env) error {
	key, src, err := saveObjectTree(ctx, e, "site")
	if err != nil {
		return err
	}
	art := e.artifact("site", key, true)
	isDir, err := e.driver.IsDirectory(ctx, art)
	if err != nil {
		return err
	}
	if !isDir {
		return fmt.Errorf("IsDirectory(%q) = false for a folder artifact", key)
	}
	objects, err := e.driver.ListObjects(ctx, art)
	if err != nil {
		return err
	}
	var listed []string
	for _, object := range objects {
		if !strings.HasPrefix(object, key+"/") {
			return fmt.Errorf("ListObjects(%q) returned %q, which argo-server cannot trim: objects must be full keys under %q", key, object, key+"/")
		}
		listed = append(listed, strings.TrimPrefix(object, key+"/"))
	}
	slices.Sort(listed)
	if want := files.FilePaths(objectTree); !slices.Equal(listed, want) {
		return fmt.Errorf("ListObjects(%q) lists %q once trimmed, want %q", key, listed, want)
	}
	sub := e.artifact("site", key, true)
	if err := sub.AppendToKey("deep"); err != nil {
		return err
	}
	if isDir, err := e.driver.IsDirectory(ctx, sub); err != nil || !isDir {
		return fmt.Errorf("IsDirectory(%q) = %v, %v for a sub-folder; want true", sub.Plugin.Key, isDir, err)
	}
	for _, rel := range listed {
		file := e.artifact("site", key, true)
		if err := file.AppendToKey(rel); err != nil {
			return err
		}
		if isDir, err := e.driver.IsDirectory(ctx, file); err != nil || isDir {
			return fmt.Errorf("IsDirectory(%q) = %v, %v for a file; want false", file.Plugin.Key, isDir, err)
		}
		want, err := files.DigestFile(filepath.Join(src, filepath.FromSlash(rel)))
		if err != nil {
			return err
		}
		if err := openAndVerify(ctx, e.driver, file, want); err != nil {
			return err
		}
	}
	return nil
}

// openFile: the UI downloads a file artifact that spans many stream frames,
// and the .tgz of a default (tarred) output.
func openFile(ctx context.Context, e *env) error {
	main, err := e.dir("main")
	if err != nil {
		return err
	}
	src := filepath.Join(main, "big.bin")
	want, err := files.WriteFile(src, "big.bin", e.largeSize, 0o644)
	if err != nil {
		return err
	}
	key := path.Join(e.keyBase, "big.bin")
	if err := e.driver.Save(ctx, src, e.artifact("big", key, true)); err != nil {
		return err
	}
	art := e.artifact("big", key, true)
	isDir, err := e.driver.IsDirectory(ctx, art)
	if err != nil {
		return err
	}
	if isDir {
		return fmt.Errorf("IsDirectory(%q) = true for a file", key)
	}
	return openAndVerify(ctx, e.driver, art, want)
}

// openAndVerify is argo-server's returnArtifact with the check it lacks.
func openAndVerify(ctx context.Context, driver common.ArtifactDriver, art *wfv1.Artifact, want files.Digest) error {
	stream, err := driver.OpenStream(ctx, art)
	if err != nil {
		return err
	}
	defer stream.Close()
	if err := files.VerifyStream(stream, want); err != nil {
		return fmt.Errorf("OpenStream(%q): %w", art.Plugin.Key, err)
	}
	return nil
}

// missingKey: what the UI and an input step see for a key nobody saved.
func missingKey(ctx context.Context, e *env) error {
	key := path.Join(e.keyBase, "never-saved.txt")
	isDir, err := e.driver.IsDirectory(ctx, e.artifact("missing", key, true))
	if err != nil {
		return fmt.Errorf("IsDirectory(%q) of a missing key must answer false without error (argo-server turns errors into HTTP 500): %w", key, err)
	}
	if isDir {
		return fmt.Errorf("IsDirectory(%q) = true for a missing key", key)
	}
	if err := loadMustFailNotFound(ctx, e, key); err != nil {
		return err
	}
	return openMustFail(ctx, e, key)
}
