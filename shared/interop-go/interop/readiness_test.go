package interop

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v4/workflow/artifacts/plugin"

	"github.com/argo-artifact-drivers/interop-go/internal/driverproc"
)

// connectResult is what plugin.NewDriver returned, and when.
type connectResult struct {
	driver  *plugin.Driver
	err     error
	elapsed time.Duration
}

// connectInBackground starts Argo's client waiting for the socket now.
func connectInBackground(ctx context.Context, name, socket string, timeout time.Duration) <-chan connectResult {
	done := make(chan connectResult, 1)
	start := time.Now()
	go func() {
		d, err := plugin.NewDriver(ctx, wfv1.ArtifactPluginName(name), socket, timeout)
		done <- connectResult{d, err, time.Since(start)}
	}()
	return done
}

// TestSocketAppearsWhileArgoPolls: the executor starts waiting before the
// plugin container has started (and before the socket's folder exists); the
// plugin comes up two seconds later. Argo polls once a second, so it must be
// connected within a few seconds of the plugin binding.
func TestSocketAppearsWhileArgoPolls(t *testing.T) {
	for _, spec := range drivers(t) {
		t.Run(spec.Name, func(t *testing.T) {
			socket := driverproc.SocketPath(shortTempDir(t), spec.Name)
			ctx := argoContext(t)
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			done := connectInBackground(ctx, spec.Name, socket, timeoutOf(spec))
			time.Sleep(2 * time.Second)
			started := time.Now()
			proc := startPlugin(t, spec, socket)
			logOnFailure(t, proc)
			res := <-done
			if res.err != nil {
				t.Fatalf("Argo's client gave up: %v", res.err)
			}
			defer res.driver.Close()
			if res.elapsed < 2*time.Second {
				t.Fatalf("connected after %s, before the plugin was started", res.elapsed)
			}
			// One poll interval plus the plugin's start-up, with room for a loaded machine.
			if after := time.Since(started); after > 6*time.Second {
				t.Fatalf("connected %s after the plugin started; expected within about a second of it binding", after)
			}
			t.Logf("connected %s after Argo started waiting", res.elapsed.Round(time.Millisecond))
			// The connection serves calls.
			isDir, err := res.driver.IsDirectory(ctx, (&env{pluginName: spec.Name, configuration: spec.WithScratch(t.TempDir())}).artifact("probe", "interop-probe/none", true))
			if err != nil || isDir {
				t.Fatalf("IsDirectory over the new connection = %v, %v; want false without error", isDir, err)
			}
		})
	}
}

// staleSocket leaves a socket file nobody listens on, as a crashed plugin does.
func staleSocket(t *testing.T, socket string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(socket), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPluginReplacesStaleSocket: a restarted plugin container finds its old
// socket file in the emptyDir. Argo sees the file at once and waits up to the
// connection timeout for a ready connection; the plugin must remove the stale
// file and bind within that time.
func TestPluginReplacesStaleSocket(t *testing.T) {
	for _, spec := range drivers(t) {
		t.Run(spec.Name, func(t *testing.T) {
			socket := driverproc.SocketPath(shortTempDir(t), spec.Name)
			staleSocket(t, socket)
			ctx := argoContext(t)
			done := connectInBackground(ctx, spec.Name, socket, 5*time.Second)
			time.Sleep(time.Second)
			proc := startPlugin(t, spec, socket)
			logOnFailure(t, proc)
			res := <-done
			if res.err != nil {
				t.Fatalf("Argo's client could not connect within its 5 s connection timeout: %v", res.err)
			}
			defer res.driver.Close()
			t.Logf("connected %s after Argo started waiting", res.elapsed.Round(time.Millisecond))
		})
	}
}

// TestArgoClientTimesOutWithoutPlugin checks that the harness reproduces
// Argo's client timing when no plugin ever comes: with no socket it polls
// until its context ends (Argo's own limit is 120 s), and with a dead socket
// file it fails after the connection timeout.
func TestArgoClientTimesOutWithoutPlugin(t *testing.T) {
	t.Run("no-socket", func(t *testing.T) {
		socket := driverproc.SocketPath(shortTempDir(t), "nobody")
		ctx, cancel := context.WithTimeout(argoContext(t), 2500*time.Millisecond)
		defer cancel()
		res := <-connectInBackground(ctx, "nobody", socket, 5*time.Second)
		if res.err == nil {
			res.driver.Close()
			t.Fatal("connected to a socket that does not exist")
		}
		if !strings.Contains(res.err.Error(), "while waiting for socket") {
			t.Fatalf("unexpected error: %v", res.err)
		}
		if res.elapsed < 2*time.Second || res.elapsed > 4*time.Second {
			t.Fatalf("gave up after %s; want the context's 2.5 s", res.elapsed)
		}
	})
	t.Run("dead-socket", func(t *testing.T) {
		socket := driverproc.SocketPath(shortTempDir(t), "nobody")
		staleSocket(t, socket)
		res := <-connectInBackground(argoContext(t), "nobody", socket, 2*time.Second)
		if res.err == nil {
			res.driver.Close()
			t.Fatal("connected to a socket nobody listens on")
		}
		if !strings.Contains(res.err.Error(), "timeout waiting for plugin nobody connection to become ready") {
			t.Fatalf("unexpected error: %v", res.err)
		}
		if res.elapsed < 2*time.Second || res.elapsed > 4*time.Second {
			t.Fatalf("gave up after %s; want the 2 s connection timeout", res.elapsed)
		}
	})
}
