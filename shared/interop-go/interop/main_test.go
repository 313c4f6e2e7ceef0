// Package interop drives each driver's real entrypoint over its Unix socket
// with Argo's own Go client (github.com/argoproj/argo-workflows/v4, the
// plugin package), in the sequences Argo's executor, garbage collector and
// argo-server use.
package interop

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v4/util/logging"
	"github.com/argoproj/argo-workflows/v4/workflow/artifacts/plugin"

	"github.com/argo-artifact-drivers/interop-go/internal/driverproc"
)

// largeSize is the size of the files that must span many stream frames.
var largeSize = int64(envInt("INTEROP_LARGE_MIB", 48)) << 20

func envInt(name string, fallback int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return fallback
}

// drivers returns the drivers to test; a bad INTEROP_DRIVERS fails the test.
func drivers(t *testing.T) []driverproc.Spec {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	specs, err := driverproc.LoadSpecs(root)
	if err != nil {
		t.Fatal(err)
	}
	return specs
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "pnpm-workspace.yaml")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("no pnpm-workspace.yaml above %s: run the tests inside the repository", dir)
}

// shortTempDir is a fresh folder with a short path: a Unix socket path must
// stay under 108 bytes, which t.TempDir() names can exceed.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "interop-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// argoContext carries the logger Argo's code requires, writing to the test log.
func argoContext(t *testing.T) context.Context {
	t.Helper()
	logger := logging.NewSlogLoggerCustom(logging.Warn, logging.Text, testLogWriter{t})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	return logging.WithLogger(ctx, logger)
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log("argo: " + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// running is a started plugin with Argo's client connected to it.
type running struct {
	spec          driverproc.Spec
	configuration string
	proc          *driverproc.Process
	driver        *plugin.Driver
}

// startPlugin runs the driver's entrypoint on a fresh socket path and
// registers a cleanup that stops it and checks the SIGTERM contract.
func startPlugin(t *testing.T, spec driverproc.Spec, socket string) *driverproc.Process {
	t.Helper()
	proc, err := driverproc.Start(spec, socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		started := time.Now()
		if err := proc.Stop(15 * time.Second); err != nil {
			t.Errorf("plugin %s: %v\n--- plugin output ---\n%s", spec.Name, err, proc.Output())
		}
		if took := time.Since(started); took > 2*time.Second {
			t.Logf("plugin %s took %s to exit after SIGTERM\n--- plugin output ---\n%s", spec.Name, took, proc.Output())
		}
	})
	return proc
}

// connect is what the executor does before its first call to a plugin.
func connect(ctx context.Context, t *testing.T, name, socket string, timeout time.Duration) *plugin.Driver {
	t.Helper()
	d, err := plugin.NewDriver(ctx, wfv1.ArtifactPluginName(name), socket, timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func launch(t *testing.T, spec driverproc.Spec) *running {
	t.Helper()
	base := shortTempDir(t)
	scratch := filepath.Join(base, "scratch")
	if err := os.Mkdir(scratch, 0o755); err != nil {
		t.Fatal(err)
	}
	socket := driverproc.SocketPath(base, spec.Name)
	proc := startPlugin(t, spec, socket)
	ctx, cancel := proc.Context(argoContext(t))
	defer cancel()
	r := &running{spec: spec, configuration: spec.WithScratch(scratch), proc: proc}
	r.driver = connect(ctx, t, spec.Name, socket, timeoutOf(spec))
	return r
}

func timeoutOf(spec driverproc.Spec) time.Duration {
	p := wfv1.PluginArtifact{ConnectionTimeoutSeconds: spec.ConnectionTimeoutSeconds}
	return p.ConnectionTimeout()
}

// runID keeps keys of different runs apart on shared backends.
var runID = strconv.FormatInt(time.Now().UnixNano()%1_000_000_000, 36)

// logOnFailure prints the plugin's output when a subtest fails.
func logOnFailure(t *testing.T, proc *driverproc.Process) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- plugin output (tail) ---\n%s", proc.Output())
		}
	})
}
