// Package driverproc says which drivers to test and runs each one the way a
// pod runs the plugin image: its entrypoint with one argument, the socket path.
package driverproc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// EnvDrivers names the environment variable listing the drivers to test: a
// JSON array of Spec, inline or in a file whose path is the value.
const EnvDrivers = "INTEROP_DRIVERS"

// ScratchPlaceholder in a configuration is replaced by a fresh empty folder
// per driver, e.g. `root: {{scratch}}` for the local driver.
const ScratchPlaceholder = "{{scratch}}"

// Spec is one driver to test.
type Spec struct {
	// Name is the plugin name, as in the controller's artifactDrivers list and in `plugin.name`.
	Name string `json:"name"`
	// Entrypoint is the absolute path of the driver's dist/main.js, run with `node`.
	Entrypoint string `json:"entrypoint,omitempty"`
	// Command replaces `node <entrypoint>` when set; the socket path is appended to it.
	Command []string `json:"command,omitempty"`
	// Configuration is the artifacts' `plugin.configuration`; {{scratch}} is replaced by an empty folder.
	Configuration string `json:"configuration"`
	// Env is added to the plugin's environment (backend coordinates, secret sources...).
	Env map[string]string `json:"env,omitempty"`
	// ConnectionTimeoutSeconds is `plugin.connectionTimeoutSeconds`; 0 means Argo's default of 5.
	ConnectionTimeoutSeconds int32 `json:"connectionTimeoutSeconds,omitempty"`
}

// LoadSpecs reads INTEROP_DRIVERS, or returns the local reference driver of
// the repository at repoRoot when it is unset.
func LoadSpecs(repoRoot string) ([]Spec, error) {
	value := strings.TrimSpace(os.Getenv(EnvDrivers))
	if value == "" {
		return validate([]Spec{{
			Name:          "local",
			Entrypoint:    filepath.Join(repoRoot, "drivers", "local", "dist", "main.js"),
			Configuration: "root: " + ScratchPlaceholder,
		}}, "the default (local driver)")
	}
	source := EnvDrivers
	text := []byte(value)
	if !strings.HasPrefix(value, "[") {
		source = value
		var err error
		if text, err = os.ReadFile(value); err != nil {
			return nil, fmt.Errorf("%s names a file that cannot be read: %w", EnvDrivers, err)
		}
	}
	decoder := json.NewDecoder(bytes.NewReader(text))
	decoder.DisallowUnknownFields()
	var specs []Spec
	if err := decoder.Decode(&specs); err != nil {
		return nil, fmt.Errorf("%s: expected a JSON array of {name, entrypoint, configuration, env}: %w", source, err)
	}
	return validate(specs, source)
}

func validate(specs []Spec, source string) ([]Spec, error) {
	if len(specs) == 0 {
		return nil, fmt.Errorf("%s lists no driver", source)
	}
	seen := map[string]bool{}
	for i, s := range specs {
		switch {
		case s.Name == "":
			return nil, fmt.Errorf("%s: entry %d has no name", source, i)
		case seen[s.Name]:
			return nil, fmt.Errorf("%s: driver %q is listed twice", source, s.Name)
		case len(s.Command) == 0 && !filepath.IsAbs(s.Entrypoint):
			return nil, fmt.Errorf("%s: driver %q needs an absolute entrypoint (or a command)", source, s.Name)
		}
		if len(s.Command) == 0 {
			if _, err := os.Stat(s.Entrypoint); err != nil {
				return nil, fmt.Errorf("%s: driver %q: %w (build it first: pnpm --filter <its package> build)", source, s.Name, err)
			}
		}
		seen[s.Name] = true
	}
	return specs, nil
}

// WithScratch returns the spec's configuration with {{scratch}} replaced.
func (s Spec) WithScratch(dir string) string {
	return strings.ReplaceAll(s.Configuration, ScratchPlaceholder, dir)
}

// SocketPath is where a test's plugin listens, shaped like Argo's
// /tmp/artifact-plugins/<name>/socket under base. The folder is not created:
// plugins must create it.
func SocketPath(base, name string) string {
	return filepath.Join(base, "artifact-plugins", name, "socket")
}

// Process is one running plugin.
type Process struct {
	Socket string
	cmd    *exec.Cmd
	output *tailBuffer
	done   chan struct{}
	err    error // the exit status, once done is closed
}

// Start runs the plugin with the socket path as its only argument.
func Start(spec Spec, socket string) (*Process, error) {
	argv := spec.Command
	if len(argv) == 0 {
		argv = []string{"node", spec.Entrypoint}
	}
	cmd := exec.Command(argv[0], append(argv[1:len(argv):len(argv)], socket)...)
	cmd.Env = os.Environ()
	for k, v := range spec.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &tailBuffer{limit: 64 << 10}
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting plugin %s (%s): %w", spec.Name, strings.Join(argv, " "), err)
	}
	p := &Process{Socket: socket, cmd: cmd, output: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Context is cancelled when the plugin exits, so that a client waiting for
// the socket of a crashed plugin does not wait Argo's full 120 s.
func (p *Process) Context(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	go func() {
		select {
		case <-p.done:
			cancel(fmt.Errorf("the plugin exited: %v", p.err))
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// Output is the tail of the plugin's stdout and stderr.
func (p *Process) Output() string { return p.output.String() }

// Stop sends SIGTERM as the kubelet does and checks the contract: exit status
// 0 within the timeout and the socket file removed.
func (p *Process) Stop(timeout time.Duration) error {
	select {
	case <-p.done:
		return fmt.Errorf("the plugin had already exited before SIGTERM: %v", p.err)
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("the plugin did not exit within %s of SIGTERM", timeout)
	}
	if p.err != nil {
		return fmt.Errorf("the plugin exited with %v after SIGTERM; a non-zero exit can fail the workflow node", p.err)
	}
	if _, err := os.Lstat(p.Socket); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("the plugin left its socket %s behind after SIGTERM", p.Socket)
	}
	return nil
}

// Kill ends the plugin without checks (cleanup after a failed test).
func (p *Process) Kill() {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tailBuffer keeps the last limit bytes written to it.
type tailBuffer struct {
	mu    sync.Mutex
	buf   []byte
	limit int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.limit; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
