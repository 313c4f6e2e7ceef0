package interop

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/argo-artifact-drivers/interop-go/artifactpb"
	"github.com/argo-artifact-drivers/interop-go/internal/executor"
	"github.com/argo-artifact-drivers/interop-go/internal/files"
	"github.com/argo-artifact-drivers/interop-go/internal/grpcplugin"
)

// TestArgoClient runs every scenario against every driver, through Argo's own
// plugin client, with one plugin process per driver as in a pod.
func TestArgoClient(t *testing.T) {
	for _, spec := range drivers(t) {
		t.Run(spec.Name, func(t *testing.T) {
			r := launch(t, spec)
			logOnFailure(t, r.proc)
			// Argo's executor runs as uid 8737, not necessarily the plugin's
			// uid; connecting to a Unix socket needs write permission on it.
			t.Run("pod/socket-open-to-the-executor-uid", func(t *testing.T) {
				info, err := os.Stat(r.proc.Socket)
				if err != nil {
					t.Fatal(err)
				}
				if info.Mode()&os.ModeSocket == 0 || info.Mode().Perm()&0o002 == 0 {
					t.Fatalf("socket %s has mode %s; other uids (Argo's executor runs as 8737) cannot connect", r.proc.Socket, info.Mode())
				}
			})
			for _, s := range scenarios {
				t.Run(s.name, func(t *testing.T) {
					e := &env{
						driver:        r.driver,
						pluginName:    spec.Name,
						configuration: r.configuration,
						timeout:       spec.ConnectionTimeoutSeconds,
						work:          t.TempDir(),
						keyBase:       fmt.Sprintf("interop-%s/%s", runID, strings.ReplaceAll(s.name, "/", "-")),
						largeSize:     largeSize,
					}
					if err := s.run(argoContext(t), e); err != nil {
						t.Fatal(err)
					}
				})
			}
		})
	}
}

// TestSaveStream is argo-server v4.1's upload: GetCapabilities, then
// SaveStream in 2 MiB chunks, through grpc-go with Argo's dial options; the
// result is read back through Argo's v4.0 client.
func TestSaveStream(t *testing.T) {
	for _, spec := range drivers(t) {
		t.Run(spec.Name, func(t *testing.T) {
			r := launch(t, spec)
			logOnFailure(t, r.proc)
			ctx := argoContext(t)
			client, err := grpcplugin.Dial(ctx, spec.Name, r.proc.Socket, timeoutOf(spec))
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			e := &env{driver: r.driver, pluginName: spec.Name, configuration: r.configuration,
				timeout: spec.ConnectionTimeoutSeconds, work: t.TempDir(),
				keyBase: fmt.Sprintf("interop-%s/savestream", runID), largeSize: largeSize}
			grpcArtifact := func(key string) *artifactpb.Artifact {
				return &artifactpb.Artifact{Name: "upload", Plugin: &artifactpb.PluginArtifact{
					Name: spec.Name, Configuration: r.configuration, Key: key,
					ConnectionTimeoutSeconds: spec.ConnectionTimeoutSeconds,
				}}
			}

			supported, err := client.SupportsSaveStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !supported {
				t.Fatalf("GetCapabilities: supports_save_stream = false; every driver built on the core streams uploads")
			}

			for _, size := range []int64{largeSize + 12345, 0, 1} {
				t.Run(fmt.Sprintf("%d-bytes", size), func(t *testing.T) {
					key := path.Join(e.keyBase, fmt.Sprintf("upload-%d.bin", size))
					want, err := files.DigestOf(files.Content(key, size))
					if err != nil {
						t.Fatal(err)
					}
					streamed, err := client.SaveStream(ctx, files.Content(key, size), grpcArtifact(key))
					if err != nil {
						t.Fatal(err)
					}
					if !streamed {
						t.Fatal("the upload fell back to a temp file and Save")
					}
					if err := openAndVerify(ctx, r.driver, e.artifact("upload", key, true), want); err != nil {
						t.Fatal(err)
					}
					artPath := filepath.Join(e.work, fmt.Sprintf("upload-%d", size))
					if _, err := executor.LoadInput(ctx, r.driver, e.artifact("upload", key, true), artPath); err != nil {
						t.Fatal(err)
					}
					f, err := os.Open(artPath)
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					if err := files.VerifyStream(f, want); err != nil {
						t.Fatalf("Load after SaveStream: %v", err)
					}
				})
			}

			t.Run("replaces-existing-key", func(t *testing.T) {
				key := path.Join(e.keyBase, "replaced.txt")
				for _, content := range []string{"first version, longer than the second", "second"} {
					if _, err := client.SaveStream(ctx, strings.NewReader(content), grpcArtifact(key)); err != nil {
						t.Fatal(err)
					}
				}
				want, _ := files.DigestOf(strings.NewReader("second"))
				if err := openAndVerify(ctx, r.driver, e.artifact("upload", key, true), want); err != nil {
					t.Fatal(err)
				}
			})

			// A refused upload must reach argo-server with the plugin's message.
			// When the plugin answers before the client has sent everything,
			// grpc-go's Send sees io.EOF and Argo reads the reason from
			// CloseAndRecv's error only: a success=false response is lost there.
			for _, size := range []int64{10, 8 << 20} {
				t.Run(fmt.Sprintf("invalid-key-fails-with-its-message-%d-bytes", size), func(t *testing.T) {
					key := e.keyBase + "/../escape.txt"
					_, err := client.SaveStream(ctx, files.Content(key, size), grpcArtifact(key))
					if err == nil {
						t.Fatalf("SaveStream to %q succeeded; a key with a '..' segment must be refused", key)
					}
					if !strings.Contains(err.Error(), "escape.txt") {
						t.Fatalf("the refusal reached Argo's client without the plugin's message (which names the key): %v", err)
					}
					t.Logf("refused as expected: %v", err)
				})
			}

			t.Run("first-frame-without-artifact-fails", func(t *testing.T) {
				stream, err := client.RPC().SaveStream(ctx)
				if err != nil {
					t.Fatal(err)
				}
				_ = stream.Send(&artifactpb.SaveStreamArtifactRequest{Chunk: bytes.Repeat([]byte("x"), 10)})
				resp, err := stream.CloseAndRecv()
				if err == nil && resp.GetSuccess() {
					t.Fatal("SaveStream whose first frame carries no output_artifact succeeded")
				}
			})
		})
	}
}
