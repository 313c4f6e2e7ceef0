package interop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/argo-artifact-drivers/interop-go/artifactpb"
	"github.com/argo-artifact-drivers/interop-go/internal/driverproc"
	"github.com/argo-artifact-drivers/interop-go/internal/files"
	"github.com/argo-artifact-drivers/interop-go/internal/grpcplugin"
)

// fault is a defect built into the in-memory server below.
type fault int

const (
	// noFault: a correct server, the control that shows the scenarios pass on it.
	noFault fault = iota
	// truncateStreams: OpenStream sends the first half of an object, then ends without an error.
	truncateStreams
	// silentMissing: OpenStream of a missing key ends at once without an error.
	silentMissing
	// refuseUploadWithResponse: SaveStream answers success=false after the first frame.
	refuseUploadWithResponse
	// refuseUploadWithStatus: SaveStream fails with a gRPC status after the first frame.
	refuseUploadWithStatus
)

// memoryServer is a small plugin kept in memory (test-sized artifacts only).
type memoryServer struct {
	artifactpb.UnimplementedArtifactServiceServer
	fault   fault
	mu      sync.Mutex
	objects map[string][]byte
}

func (s *memoryServer) key(a *artifactpb.Artifact) string {
	return strings.Trim(a.GetPlugin().GetKey(), "/")
}

func (s *memoryServer) under(prefix string) []string {
	var keys []string
	for k := range s.objects {
		if strings.HasPrefix(k, prefix+"/") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func (s *memoryServer) Save(_ context.Context, req *artifactpb.SaveArtifactRequest) (*artifactpb.SaveArtifactResponse, error) {
	key := s.key(req.GetOutputArtifact())
	stored := map[string][]byte{}
	err := filepath.WalkDir(req.GetPath(), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(req.GetPath(), p)
		stored[path.Join(key, filepath.ToSlash(rel))] = data
		return nil
	})
	if err != nil {
		return &artifactpb.SaveArtifactResponse{Error: err.Error()}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range stored {
		s.objects[k] = v
	}
	return &artifactpb.SaveArtifactResponse{Success: true}, nil
}

func (s *memoryServer) Load(_ context.Context, req *artifactpb.LoadArtifactRequest) (*artifactpb.LoadArtifactResponse, error) {
	key := s.key(req.GetInputArtifact())
	s.mu.Lock()
	defer s.mu.Unlock()
	if data, ok := s.objects[key]; ok {
		return loadResponse(os.WriteFile(req.GetPath(), data, 0o644))
	}
	keys := s.under(key)
	if len(keys) == 0 {
		return &artifactpb.LoadArtifactResponse{Error: fmt.Sprintf("key %q not found", key)}, nil
	}
	for _, k := range keys {
		p := filepath.Join(req.GetPath(), filepath.FromSlash(strings.TrimPrefix(k, key+"/")))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return loadResponse(err)
		}
		if err := os.WriteFile(p, s.objects[k], 0o644); err != nil {
			return loadResponse(err)
		}
	}
	return loadResponse(nil)
}

func loadResponse(err error) (*artifactpb.LoadArtifactResponse, error) {
	if err != nil {
		return &artifactpb.LoadArtifactResponse{Error: err.Error()}, nil
	}
	return &artifactpb.LoadArtifactResponse{Success: true}, nil
}

func (s *memoryServer) Delete(_ context.Context, req *artifactpb.DeleteArtifactRequest) (*artifactpb.DeleteArtifactResponse, error) {
	key := s.key(req.GetArtifact())
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, key)
	for _, k := range s.under(key) {
		delete(s.objects, k)
	}
	return &artifactpb.DeleteArtifactResponse{Success: true}, nil
}

func (s *memoryServer) ListObjects(_ context.Context, req *artifactpb.ListObjectsRequest) (*artifactpb.ListObjectsResponse, error) {
	key := s.key(req.GetArtifact())
	s.mu.Lock()
	defer s.mu.Unlock()
	return &artifactpb.ListObjectsResponse{Objects: s.under(key)}, nil
}

func (s *memoryServer) IsDirectory(_ context.Context, req *artifactpb.IsDirectoryRequest) (*artifactpb.IsDirectoryResponse, error) {
	key := s.key(req.GetArtifact())
	s.mu.Lock()
	defer s.mu.Unlock()
	_, isFile := s.objects[key]
	return &artifactpb.IsDirectoryResponse{IsDirectory: !isFile && len(s.under(key)) > 0}, nil
}

func (s *memoryServer) OpenStream(req *artifactpb.OpenStreamRequest, stream grpc.ServerStreamingServer[artifactpb.OpenStreamResponse]) error {
	key := s.key(req.GetArtifact())
	s.mu.Lock()
	data, ok := s.objects[key]
	s.mu.Unlock()
	if !ok {
		if s.fault == silentMissing {
			return nil
		}
		return stream.Send(&artifactpb.OpenStreamResponse{Error: fmt.Sprintf("key %q not found", key)})
	}
	if s.fault == truncateStreams {
		data = data[:len(data)/2]
	}
	const frame = 1 << 20
	for len(data) > 0 {
		n := min(frame, len(data))
		if err := stream.Send(&artifactpb.OpenStreamResponse{Data: data[:n]}); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// GetCapabilities is left unimplemented (the default) unless a test refuses uploads.
func (s *memoryServer) GetCapabilities(ctx context.Context, req *artifactpb.GetCapabilitiesRequest) (*artifactpb.GetCapabilitiesResponse, error) {
	if s.fault == refuseUploadWithResponse || s.fault == refuseUploadWithStatus {
		return &artifactpb.GetCapabilitiesResponse{SupportsSaveStream: true}, nil
	}
	return s.UnimplementedArtifactServiceServer.GetCapabilities(ctx, req)
}

// SaveStream only refuses, in one of two ways.
func (s *memoryServer) SaveStream(stream grpc.ClientStreamingServer[artifactpb.SaveStreamArtifactRequest, artifactpb.SaveArtifactResponse]) error {
	if _, err := stream.Recv(); err != nil {
		return err
	}
	const reason = "upload refused: the backend said no"
	if s.fault == refuseUploadWithStatus {
		return status.Error(codes.PermissionDenied, reason)
	}
	return stream.SendAndClose(&artifactpb.SaveArtifactResponse{Error: reason})
}

// serveMemory starts the in-memory server on a Unix socket.
func serveMemory(t *testing.T, f fault) string {
	t.Helper()
	socket := driverproc.SocketPath(shortTempDir(t), "wrong")
	if err := os.MkdirAll(filepath.Dir(socket), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	artifactpb.RegisterArtifactServiceServer(srv, &memoryServer{fault: f, objects: map[string][]byte{}})
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return socket
}

// runOnMemory runs one scenario against the in-memory server through Argo's client.
func runOnMemory(t *testing.T, f fault, s scenario) error {
	t.Helper()
	socket := serveMemory(t, f)
	ctx := argoContext(t)
	driver := connect(ctx, t, "wrong", socket, timeoutOf(driverproc.Spec{}))
	e := &env{
		driver: driver, pluginName: "wrong", configuration: "{}",
		work: t.TempDir(), keyBase: "wf/" + strings.ReplaceAll(s.name, "/", "-"),
		largeSize: 3<<20 + 5,
	}
	return s.run(ctx, e)
}

// TestScenariosPassOnCorrectServer is the control for the negative tests:
// the in-memory server without a fault passes every scenario, so their
// failures below come from the fault alone.
func TestScenariosPassOnCorrectServer(t *testing.T) {
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			if err := runOnMemory(t, noFault, s); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTruncatedOpenStreamIsDetected: a server that ends OpenStream early
// without an error. Argo's client hands the UI a clean, short stream; the
// scenarios' byte check must catch it.
func TestTruncatedOpenStreamIsDetected(t *testing.T) {
	t.Run("argo-client-alone-does-not-notice", func(t *testing.T) {
		socket := serveMemory(t, truncateStreams)
		ctx := argoContext(t)
		driver := connect(ctx, t, "wrong", socket, timeoutOf(driverproc.Spec{}))
		e := &env{pluginName: "wrong", configuration: "{}", work: t.TempDir()}
		src := filepath.Join(e.work, "f.bin")
		if _, err := files.WriteFile(src, "f.bin", 3<<20, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := driver.Save(ctx, src, e.artifact("f", "wf/pod/f.bin", true)); err != nil {
			t.Fatal(err)
		}
		stream, err := driver.OpenStream(ctx, e.artifact("f", "wf/pod/f.bin", true))
		if err != nil {
			t.Fatal(err)
		}
		defer stream.Close()
		n, err := io.Copy(io.Discard, stream)
		if err != nil || n != 3<<20/2 {
			t.Fatalf("Argo's client read %d bytes with error %v; expected it to see a clean end after half the bytes", n, err)
		}
	})
	for _, name := range []string{"server/open-file", "server/browse-directory"} {
		t.Run(name, func(t *testing.T) {
			err := runOnMemory(t, truncateStreams, scenarioNamed(t, name))
			if !errors.Is(err, files.ErrStreamMismatch) {
				t.Fatalf("the scenario must fail with a stream mismatch against a truncating server; got %v", err)
			}
			t.Logf("detected: %v", err)
		})
	}
}

// TestSilentMissingStreamIsDetected: a server that answers OpenStream of a
// missing key with an empty, error-free stream (the UI would serve an empty
// download instead of an error).
func TestSilentMissingStreamIsDetected(t *testing.T) {
	for _, name := range []string{"server/missing-key", "gc/delete-twice"} {
		t.Run(name, func(t *testing.T) {
			err := runOnMemory(t, silentMissing, scenarioNamed(t, name))
			if err == nil || !strings.Contains(err.Error(), "ended cleanly after 0 bytes") {
				t.Fatalf("the scenario must fail on an empty stream for a missing key; got %v", err)
			}
			t.Logf("detected: %v", err)
		})
	}
}

func scenarioNamed(t *testing.T, name string) scenario {
	t.Helper()
	for _, s := range scenarios {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("no scenario %q", name)
	return scenario{}
}

// TestUploadWithoutSaveStreamFallsBackToSave: a plugin without
// GetCapabilities (UNIMPLEMENTED) gets argo-server v4.1's fallback, a temp
// file and Save. This checks the grpc-go client's replica of that path.
func TestUploadWithoutSaveStreamFallsBackToSave(t *testing.T) {
	socket := serveMemory(t, noFault)
	ctx := argoContext(t)
	client, err := grpcplugin.Dial(ctx, "wrong", socket, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	art := &artifactpb.Artifact{Name: "up", Plugin: &artifactpb.PluginArtifact{Name: "wrong", Key: "wf/up.bin"}}
	streamed, err := client.SaveStream(ctx, files.Content("up", 3<<20), art)
	if err != nil || streamed {
		t.Fatalf("SaveStream without the capability = streamed %v, %v; want the Save fallback", streamed, err)
	}
	want, _ := files.DigestOf(files.Content("up", 3<<20))
	driver := connect(ctx, t, "wrong", socket, 5*time.Second)
	e := &env{pluginName: "wrong", configuration: "{}"}
	if err := openAndVerify(ctx, driver, e.artifact("up", "wf/up.bin", true), want); err != nil {
		t.Fatal(err)
	}
}

// TestUploadRefusalNeedsAStatus shows why a plugin must refuse a SaveStream
// with a gRPC error status: once the plugin answers before the upload ends,
// Argo v4.1's client (Send sees io.EOF, then CloseAndRecv) reports the
// status's message but drops a success=false response's error text.
func TestUploadRefusalNeedsAStatus(t *testing.T) {
	for _, c := range []struct {
		fault       fault
		messageKept bool
	}{{refuseUploadWithStatus, true}, {refuseUploadWithResponse, false}} {
		t.Run(fmt.Sprintf("message-kept-%v", c.messageKept), func(t *testing.T) {
			client, err := grpcplugin.Dial(argoContext(t), "wrong", serveMemory(t, c.fault), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			art := &artifactpb.Artifact{Name: "up", Plugin: &artifactpb.PluginArtifact{Name: "wrong", Key: "wf/up.bin"}}
			_, err = client.SaveStream(argoContext(t), files.Content("up", 8<<20), art)
			if err == nil {
				t.Fatal("the refused upload succeeded")
			}
			if kept := strings.Contains(err.Error(), "the backend said no"); kept != c.messageKept {
				t.Fatalf("message kept = %v, want %v: %v", kept, c.messageKept, err)
			}
			t.Logf("Argo's client reports: %v", err)
		})
	}
}
