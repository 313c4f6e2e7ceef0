package interop

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/argo-artifact-drivers/interop-go/artifactpb"
	"github.com/argo-artifact-drivers/interop-go/internal/driverproc"
	"github.com/argo-artifact-drivers/interop-go/internal/grpcplugin"
	"github.com/argo-artifact-drivers/interop-go/internal/otlpfile"
)

const rpcPrefix = "artifact.ArtifactService/"

// httpDrivers talk to their backend over HTTP: their backend requests must
// show as client spans. The others show the core's phases (a folder walk).
var httpDrivers = map[string]bool{"s3": true, "gcs": true, "azure": true, "webdav": true}

// TestTelemetry: with OTEL_EXPORTER_OTLP_ENDPOINT set, a plugin called by
// Argo's otelgrpc-instrumented client (Argo v4.1's dial options) joins the
// caller's trace: each RPC's server span is a child of the client span, which
// is a child of the caller's span; the core's phases and the backend's
// requests hang below the RPC span; metrics arrive; log lines carry the ids.
// Over OTLP/gRPC (the default) and OTLP/HTTP, to a real collector.
func TestTelemetry(t *testing.T) {
	c := startCollector(t)
	recorder := tracetest.NewSpanRecorder()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	previousProvider, previousPropagator := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	// What Argo's telemetry set-up installs globally; otelgrpc uses the globals.
	otel.SetTracerProvider(provider)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	t.Cleanup(func() {
		otel.SetTracerProvider(previousProvider)
		otel.SetTextMapPropagator(previousPropagator)
		_ = provider.Shutdown(context.Background())
	})

	// "on-sigterm": batches and metric exports a minute apart, so what the
	// collector gets is what the plugin sends while it stops (an init
	// container's plugin is stopped right after its Load).
	variants := []struct{ name, protocol, delay string }{
		{"grpc", "grpc", "200"},
		{"http-protobuf", "http/protobuf", "200"},
		{"grpc-on-sigterm", "grpc", "60000"},
	}
	for _, spec := range drivers(t) {
		for _, variant := range variants {
			t.Run(spec.Name+"/"+variant.name, func(t *testing.T) {
				endpoint := c.grpcEndpoint
				if variant.protocol != "grpc" {
					endpoint = c.httpEndpoint
				}
				run := fmt.Sprintf("%s-%s-%s", runID, spec.Name, variant.name)
				spec.Env = maps.Clone(spec.Env)
				if spec.Env == nil {
					spec.Env = map[string]string{}
				}
				interval := variant.delay
				if interval == "200" {
					interval = "500"
				}
				maps.Copy(spec.Env, map[string]string{
					"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + endpoint,
					"OTEL_EXPORTER_OTLP_PROTOCOL": variant.protocol,
					"OTEL_METRIC_EXPORT_INTERVAL": interval,
					"OTEL_BSP_SCHEDULE_DELAY":     variant.delay,
					"OTEL_RESOURCE_ATTRIBUTES":    "interop.run=" + run,
				})
				if variant.delay == "200" {
					checkTelemetry(t, c, spec.Name, launch(t, spec), provider, recorder, run, func() {})
					return
				}
				proc, r := launchUnstopped(t, spec)
				checkTelemetry(t, c, spec.Name, r, provider, recorder, run, func() {
					if err := proc.Stop(15 * time.Second); err != nil {
						t.Fatalf("plugin %s: %v", spec.Name, err)
					}
				})
			})
		}
	}
}

// launchUnstopped starts a plugin whose stop the test does itself.
func launchUnstopped(t *testing.T, spec driverproc.Spec) (*driverproc.Process, *running) {
	t.Helper()
	base := shortTempDir(t)
	scratch := filepath.Join(base, "scratch")
	if err := os.Mkdir(scratch, 0o755); err != nil {
		t.Fatal(err)
	}
	proc, err := driverproc.Start(spec, driverproc.SocketPath(base, spec.Name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proc.Kill)
	return proc, &running{spec: spec, configuration: spec.WithScratch(scratch), proc: proc}
}

func checkTelemetry(t *testing.T, c *collector, name string, r *running, provider *sdktrace.TracerProvider,
	recorder *tracetest.SpanRecorder, run string, stop func()) {
	logOnFailure(t, r.proc)
	ctx := argoContext(t)
	client, err := grpcplugin.Dial(ctx, name, r.proc.Socket, timeoutOf(r.spec))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	rpc := client.RPC()
	art := func(key string) *artifactpb.Artifact {
		return &artifactpb.Artifact{Name: "traced", Plugin: &artifactpb.PluginArtifact{
			Name: name, Configuration: r.configuration, Key: key}}
	}
	keyBase := "interop-" + run + "/telemetry"
	work := t.TempDir()
	file := filepath.Join(work, "file.bin")
	if err := os.WriteFile(file, bytes.Repeat([]byte("x"), 65536), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(work, "dir")
	for _, f := range []string{"a.txt", "sub/b.txt", "sub/deeper/c.txt"} {
		_ = os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The executor's span, as Argo's own tracing would have started it.
	ctx, parent := provider.Tracer("interop-test").Start(ctx, "executor: save and load artifacts")
	ok := func(what string, success bool, message string, err error) {
		t.Helper()
		if err != nil || !success {
			t.Fatalf("%s: err=%v message=%q", what, err, message)
		}
	}
	saved, err := rpc.Save(ctx, &artifactpb.SaveArtifactRequest{Path: file, OutputArtifact: art(keyBase + "/file.bin")})
	ok("Save file", saved.GetSuccess(), saved.GetError(), err)
	saved, err = rpc.Save(ctx, &artifactpb.SaveArtifactRequest{Path: dir, OutputArtifact: art(keyBase + "/dir")})
	ok("Save folder", saved.GetSuccess(), saved.GetError(), err)
	loaded, err := rpc.Load(ctx, &artifactpb.LoadArtifactRequest{Path: filepath.Join(work, "loaded"), InputArtifact: art(keyBase + "/dir")})
	ok("Load folder", loaded.GetSuccess(), loaded.GetError(), err)
	listed, err := rpc.ListObjects(ctx, &artifactpb.ListObjectsRequest{Artifact: art(keyBase + "/dir")})
	ok("ListObjects", len(listed.GetObjects()) == 3, listed.GetError(), err)
	stream, err := rpc.OpenStream(ctx, &artifactpb.OpenStreamRequest{Artifact: art(keyBase + "/file.bin")})
	if err != nil {
		t.Fatal(err)
	}
	// Read to io.EOF: otelgrpc ends the client span when the stream ends.
	for {
		if _, err := stream.Recv(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	missing, err := rpc.Load(ctx, &artifactpb.LoadArtifactRequest{Path: filepath.Join(work, "missing"), InputArtifact: art(keyBase + "/missing")})
	if err != nil || missing.GetSuccess() {
		t.Fatalf("Load of a missing key: err=%v success=%v; expected a not-found answer", err, missing.GetSuccess())
	}
	parent.End()

	traceID := parent.SpanContext().TraceID().String()
	// The client spans otelgrpc made in this process, children of the executor's span.
	clientSpans := map[string]string{}
	for _, s := range recorder.Ended() {
		if s.SpanContext().TraceID() == parent.SpanContext().TraceID() && s.Parent().SpanID() == parent.SpanContext().SpanID() {
			clientSpans[s.SpanContext().SpanID().String()] = s.Name()
		}
	}
	if len(clientSpans) < 6 {
		t.Fatalf("otelgrpc recorded %d client spans under the executor's span; expected one per RPC (6)", len(clientSpans))
	}

	stop()
	c.waitFor(t, 20*time.Second, func(spans []otlpfile.Span, points []otlpfile.Point) error {
		return checkSpans(spans, traceID, clientSpans, name, keyBase, run)
	})
	c.waitFor(t, 20*time.Second, func(_ []otlpfile.Span, points []otlpfile.Point) error {
		return checkMetrics(points, run)
	})
	if !strings.Contains(r.proc.Output(), `"trace_id":"`+traceID+`"`) {
		t.Errorf("no log line of the plugin carries trace_id %s", traceID)
	}
}

// checkSpans finds the plugin's RPC spans in the caller's trace and checks their parents, attributes and children.
func checkSpans(all []otlpfile.Span, traceID string, clientSpans map[string]string, name, keyBase, run string) error {
	byID := map[string]otlpfile.Span{}
	rpcSpans := map[string][]otlpfile.Span{}
	for _, s := range all {
		if s.TraceID != traceID || s.Resource["interop.run"] != run {
			continue
		}
		byID[s.SpanID] = s
		if op, found := strings.CutPrefix(s.Name, rpcPrefix); found {
			rpcSpans[op] = append(rpcSpans[op], s)
		}
	}
	for op, want := range map[string]int{"Save": 2, "Load": 2, "ListObjects": 1, "OpenStream": 1} {
		if got := len(rpcSpans[op]); got != want {
			return fmt.Errorf("%d %s server spans in the caller's trace %s, want %d (got spans: %v)", got, op, traceID, want, names(byID))
		}
	}
	for op, spans := range rpcSpans {
		for _, s := range spans {
			if clientSpans[s.ParentSpanID] != rpcPrefix+op && clientSpans[s.ParentSpanID] != "/"+rpcPrefix+op {
				return fmt.Errorf("the plugin's %s span %s has parent %q, which is not the otelgrpc client span of that call (client spans: %v)",
					op, s.SpanID, s.ParentSpanID, clientSpans)
			}
			if s.Kind != 2 || s.Attributes["artifact_driver.operation"] != op || s.Attributes["artifact_driver.target"] == "" ||
				!strings.HasPrefix(s.Attributes["artifact_driver.key"], keyBase) || !strings.HasPrefix(s.Resource["service.name"], "argo-artifact-driver-") {
				return fmt.Errorf("the %s span lacks its kind (server) or attributes: kind %d, %v, resource %v", op, s.Kind, s.Attributes, s.Resource)
			}
		}
	}
	for _, s := range rpcSpans["Save"] {
		if strings.HasSuffix(s.Attributes["artifact_driver.key"], "file.bin") &&
			(s.Attributes["artifact_driver.bytes"] != "65536" || s.Attributes["artifact_driver.files"] != "1" || s.Attributes["artifact_driver.outcome"] != "ok") {
			return fmt.Errorf("the Save span of file.bin says %v; want bytes 65536, files 1, outcome ok", s.Attributes)
		}
	}
	var failed, folderLoad *otlpfile.Span
	for _, s := range rpcSpans["Load"] {
		if strings.HasSuffix(s.Attributes["artifact_driver.key"], "missing") {
			failed = &s
		} else {
			folderLoad = &s
		}
	}
	if failed == nil || failed.Attributes["artifact_driver.outcome"] != "error" || failed.Attributes["artifact_driver.error_code"] != "not-found" || failed.StatusCode != 2 {
		return fmt.Errorf("the failed Load's span does not say outcome error, code not-found, status error: %+v", failed)
	}
	// Below the Load of the folder: the core's phases (a walk of a folder
	// backend) or the backend's HTTP requests.
	below := descendants(byID, folderLoad.SpanID)
	if len(below) == 0 {
		return fmt.Errorf("no span hangs below the Load of the folder (%s); spans in the trace: %v", folderLoad.SpanID, names(byID))
	}
	// A plugin name may carry a variant ("webdav-apache", "webdav-rclone").
	if family, _, _ := strings.Cut(name, "-"); httpDrivers[family] {
		http := 0
		for _, s := range below {
			if s.Kind == 3 && s.Attributes["http.request.method"] != "" {
				http++
			}
		}
		if http == 0 {
			return fmt.Errorf("no backend HTTP client span below the Load of the folder; below it: %v", spanNames(below))
		}
	}
	return nil
}

func descendants(byID map[string]otlpfile.Span, root string) []otlpfile.Span {
	var found []otlpfile.Span
	for _, s := range byID {
		for p := s.ParentSpanID; p != ""; p = byID[p].ParentSpanID {
			if p == root {
				found = append(found, s)
				break
			}
			if _, known := byID[p]; !known {
				break
			}
		}
	}
	return found
}

func names(byID map[string]otlpfile.Span) []string {
	return spanNames(slicesOf(byID))
}

func slicesOf(byID map[string]otlpfile.Span) []otlpfile.Span {
	var out []otlpfile.Span
	for _, s := range byID {
		out = append(out, s)
	}
	return out
}

func spanNames(spans []otlpfile.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// checkMetrics looks for the plugin's metrics of this run, per operation.
func checkMetrics(points []otlpfile.Point, run string) error {
	most := map[string]float64{}
	for _, p := range points {
		if p.Resource["interop.run"] != run {
			continue
		}
		key := p.Metric + "|" + p.Attributes["artifact_driver.operation"] + "|" + p.Attributes["artifact_driver.error_code"]
		if p.Value > most[key] {
			most[key] = p.Value
		}
		if _, seen := most[p.Metric]; !seen {
			most[p.Metric] = 0
		}
	}
	for key, atLeast := range map[string]float64{
		"artifact_driver.transferred|Save|":            65536 + 3,
		"artifact_driver.call.duration|Load|":          1,
		"artifact_driver.call.duration|Load|not-found": 1,
		"artifact_driver.errors|Load|not-found":        1,
		"artifact_driver.calls.active":                 0,
		"artifact_driver.streams.active":               0,
	} {
		if value, found := most[key]; !found || value < atLeast {
			return fmt.Errorf("metric %s: %v (found: %t), want at least %v", key, value, found, atLeast)
		}
	}
	return nil
}
