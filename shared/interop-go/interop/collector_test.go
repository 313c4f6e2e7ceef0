package interop

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argo-artifact-drivers/interop-go/internal/otlpfile"
)

// EnvCollector names the variable holding the path of the collector binary
// that collector/setup.sh builds (scripts/test.sh sets it from that script's
// last line); unset, the test runs that script itself.
const EnvCollector = "INTEROP_OTELCOL"

// collector is a running OpenTelemetry Collector on loopback that writes what
// it receives to two files.
type collector struct {
	grpcEndpoint string // host:port of the OTLP gRPC receiver
	httpEndpoint string // host:port of the OTLP HTTP receiver
	traces       string
	metrics      string
	output       *strings.Builder
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startCollector starts the collector built by collector/setup.sh; the test
// fails (it does not skip) when the binary is missing.
func startCollector(t *testing.T) *collector {
	t.Helper()
	binary := os.Getenv(EnvCollector)
	if binary == "" {
		binary = installCollector(t)
	}
	dir := shortTempDir(t)
	c := &collector{
		grpcEndpoint: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		httpEndpoint: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		traces:       filepath.Join(dir, "traces.jsonl"),
		metrics:      filepath.Join(dir, "metrics.jsonl"),
		output:       &strings.Builder{},
	}
	config := fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc: {endpoint: "%s"}
      http: {endpoint: "%s"}
exporters:
  file/traces: {path: "%s", flush_interval: 100ms}
  file/metrics: {path: "%s", flush_interval: 100ms}
service:
  telemetry:
    metrics: {level: none}
    logs: {level: warn}
  pipelines:
    traces: {receivers: [otlp], exporters: [file/traces]}
    metrics: {receivers: [otlp], exporters: [file/metrics]}
`, c.grpcEndpoint, c.httpEndpoint, c.traces, c.metrics)
	configPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "--config", configPath)
	cmd.Stdout, cmd.Stderr = c.output, c.output
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	for _, address := range []string{c.grpcEndpoint, c.httpEndpoint} {
		for {
			conn, err := net.DialTimeout("tcp", address, 200*time.Millisecond)
			if err == nil {
				conn.Close()
				break
			}
			select {
			case <-exited:
				t.Fatalf("the collector exited (%v):\n%s", exitErr, c.output)
			case <-time.After(50 * time.Millisecond):
			}
			if time.Since(started) > 30*time.Second {
				t.Fatalf("the collector does not listen on %s after 30 s:\n%s", address, c.output)
			}
		}
	}
	t.Logf("collector ready in %s", time.Since(started).Round(time.Millisecond))
	return c
}

// waitFor polls the collector's files until check passes on what has
// arrived, or fails the test with check's last complaint after timeout.
func (c *collector) waitFor(t *testing.T, timeout time.Duration, check func([]otlpfile.Span, []otlpfile.Point) error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		spans, err := otlpfile.Spans(c.traces)
		if err != nil {
			t.Fatal(err)
		}
		points, err := otlpfile.Points(c.metrics)
		if err != nil {
			t.Fatal(err)
		}
		err = check(spans, points)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v\n(%d spans and %d metric points received)", timeout, err, len(spans), len(points))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// installCollector runs collector/setup.sh (idempotent: it builds the
// collector once, into the tools cache) and returns the path it prints last.
func installCollector(t *testing.T) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", filepath.Join(root, "shared", "interop-go", "collector", "setup.sh")).Output()
	if err != nil {
		var stderr []byte
		if exit, ok := err.(*exec.ExitError); ok {
			stderr = exit.Stderr
		}
		t.Fatalf("building the OpenTelemetry Collector with collector/setup.sh failed: %v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}
