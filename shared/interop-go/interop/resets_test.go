package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/argo-artifact-drivers/interop-go/internal/files"
	"github.com/argo-artifact-drivers/interop-go/internal/h2watch"
)

// uiWorkers downloads run at once, uiDownloadsPerWorker one after the other
// each: 3,200 in all, well past the 1,000 RST_STREAMs that Node's HTTP/2
// server (nghttp2's rapid-reset limit) lets a connection send in a burst.
const (
	uiWorkers            = 32
	uiDownloadsPerWorker = 100
	uiObjectBytes        = 3000
)

// TestUIDownloadsOnOneConnection is a busy UI's downloads of a small file, as
// argo-server v4.1 makes them (server/artifacts/artifact_server.go,
// returnArtifact): Argo's plugin.Driver.OpenStream under the HTTP request's
// context, io.Copy of its reader (Argo's goroutine stops reading at the
// is_end frame), Close, and the handler returns, which cancels that context.
// grpc-go then resets the stream (RST_STREAM(CANCEL)) if the call's status
// has not arrived yet. All of them on one connection (argo-server dials a new
// one per request today; a shared one is the worst case): no call may fail,
// and the plugin must neither close the connection nor send a GOAWAY.
// A proxy on the socket counts the frames each side sent.
func TestUIDownloadsOnOneConnection(t *testing.T) {
	for _, spec := range drivers(t) {
		t.Run(spec.Name, func(t *testing.T) {
			r := launch(t, spec) // returns once the plugin's connection is ready
			logOnFailure(t, r.proc)
			ctx := argoContext(t)
			e := &env{driver: r.driver, pluginName: spec.Name, configuration: r.configuration,
				timeout: spec.ConnectionTimeoutSeconds, work: t.TempDir(),
				keyBase: fmt.Sprintf("interop-%s/ui-downloads", runID)}

			key := path.Join(e.keyBase, "small.txt")
			src := filepath.Join(e.work, "small.txt")
			want, err := files.WriteFile(src, key, uiObjectBytes, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			art := e.artifact("small", key, true)
			if err := r.driver.Save(ctx, src, art); err != nil {
				t.Fatal(err)
			}

			proxySocket := filepath.Join(shortTempDir(t), "ui.sock")
			proxy, err := h2watch.Listen(proxySocket, r.proc.Socket)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = proxy.Close() })
			server := connect(ctx, t, spec.Name, proxySocket, timeoutOf(spec))

			started := time.Now()
			var (
				mu     sync.Mutex
				failed []string
				wg     sync.WaitGroup
			)
			for w := range uiWorkers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range uiDownloadsPerWorker {
						request, handlerReturned := context.WithCancel(ctx)
						err := openAndVerify(request, server, art, want)
						handlerReturned()
						if err != nil {
							mu.Lock()
							failed = append(failed, fmt.Sprintf("worker %d download %d after %s: %v", w, i, time.Since(started).Round(time.Millisecond), err))
							mu.Unlock()
						}
					}
				}()
			}
			wg.Wait()
			took := time.Since(started)
			total := uiWorkers * uiDownloadsPerWorker
			// The frames still on their way: a GOAWAY follows the last reset.
			time.Sleep(200 * time.Millisecond)
			stats := proxy.Stats()
			t.Logf("%d downloads of %d bytes (%d at once) in %s (%.0f/s); client RST_STREAM: %s; server RST_STREAM: %s; connections: %d",
				total, uiObjectBytes, uiWorkers, took.Round(time.Millisecond), float64(total)/took.Seconds(),
				resetCounts(stats.ClientResets), resetCounts(stats.ServerResets), stats.Connections)

			if len(failed) > 0 {
				t.Errorf("%d of %d downloads failed; first: %s", len(failed), total, strings.Join(failed[:min(3, len(failed))], "; "))
			}
			for _, g := range stats.GoAways {
				t.Errorf("the plugin sent GOAWAY(%s, %q) during the downloads: it closed argo-server's connection, failing every call in flight", h2watch.CodeName(g.Code), g.Debug)
			}
			if stats.Connections != 1 {
				t.Errorf("Argo's client opened %d connections, want 1: the plugin's server closed the first", stats.Connections)
			}
		})
	}
}

func resetCounts(counts map[uint32]int) string {
	if len(counts) == 0 {
		return "none"
	}
	var parts []string
	for code, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, h2watch.CodeName(code)))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// floodWindow is how long a rapid-reset flood may last before the plugin must
// have closed the connection (about 0.3 s on an idle 2-core machine).
const floodWindow = 15 * time.Second

// TestRapidResetFloodIsCut: the reset limit the plugin raises for argo-server's
// downloads still bounds a rapid-reset attack (CVE-2023-44487): a client that
// opens OpenStreams and resets each at once, as fast as it can write, over
// raw HTTP/2 frames, must see its connection closed.
func TestRapidResetFloodIsCut(t *testing.T) {
	for _, spec := range drivers(t) {
		t.Run(spec.Name, func(t *testing.T) {
			r := launch(t, spec)
			logOnFailure(t, r.proc)
			conn, err := net.Dial("unix", r.proc.Socket)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			started := time.Now()
			_ = conn.SetDeadline(started.Add(floodWindow))
			framer := http2.NewFramer(conn, nil)
			if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
				t.Fatal(err)
			}
			if err := framer.WriteSettings(); err != nil {
				t.Fatal(err)
			}
			var block bytes.Buffer
			encoder := hpack.NewEncoder(&block)
			for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"},
				{":path", "/artifact.ArtifactService/OpenStream"}, {":authority", "localhost"},
				{"content-type", "application/grpc"}, {"te", "trailers"}} {
				_ = encoder.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
			}

			cut := make(chan string, 1)
			go func() {
				reader := http2.NewFramer(nil, conn)
				for {
					frame, err := reader.ReadFrame()
					if err != nil {
						cut <- "connection closed (" + err.Error() + ")"
						return
					}
					if g, ok := frame.(*http2.GoAwayFrame); ok {
						cut <- "GOAWAY(" + g.ErrCode.String() + ")"
						return
					}
				}
			}()

			resets := 0
			for id := uint32(1); ; id += 2 {
				select {
				case how := <-cut:
					took := time.Since(started)
					t.Logf("cut by %s after %d resets in %s (%.0f/s)", how, resets, took.Round(time.Millisecond), float64(resets)/took.Seconds())
					return
				default:
				}
				err := framer.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block.Bytes(), EndHeaders: true})
				if err == nil {
					err = framer.WriteRSTStream(id, http2.ErrCodeCancel)
				}
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("the plugin still took a rapid-reset flood after %d resets in %s: its HTTP/2 server no longer bounds stream resets", resets, floodWindow)
				}
				if err != nil {
					// The plugin closed the connection: the reader says how.
					select {
					case how := <-cut:
						t.Logf("cut by %s after %d resets in %s", how, resets, time.Since(started).Round(time.Millisecond))
					case <-time.After(floodWindow):
						t.Logf("connection closed (%v) after %d resets", err, resets)
					}
					return
				}
				resets++
			}
		})
	}
}
