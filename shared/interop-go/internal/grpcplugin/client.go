// Package grpcplugin is a grpc-go client of the plugin built from this
// repository's proto/artifact.proto, for the RPCs that the Argo module on the
// Go module proxy (v4.0.5) does not have yet: GetCapabilities and SaveStream,
// added in Argo v4.1. It connects exactly as Argo's plugin.NewDriver does
// (v4.0.5 and v4.1.2 alike: socket polling, unix dialer, insecure
// credentials, readiness wait) and streams uploads as v4.1.2's
// Driver.SaveStream does (GetCapabilities first, 2 MiB chunks, the plugin's
// error read from CloseAndRecv, a temp file and Save when unsupported).
// Like v4.1.2 it dials with OpenTelemetry's otelgrpc client stats handler,
// which sends the caller's trace context in the metadata (W3C traceparent,
// with the global propagator) and records a client span per RPC.
package grpcplugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/argo-artifact-drivers/interop-go/artifactpb"
)

// SaveStreamChunkSize is Argo v4.1's chunk size for SaveStream frames.
const SaveStreamChunkSize = 2 * 1024 * 1024

// socketPolls is how many times, once a second, Argo looks for the socket.
const socketPolls = 120

// Client is a connected plugin.
type Client struct {
	name string
	conn *grpc.ClientConn
	rpc  artifactpb.ArtifactServiceClient
}

// Dial waits for the socket and a ready connection the way Argo does.
func Dial(ctx context.Context, pluginName, socketPath string, connectionTimeout time.Duration) (*Client, error) {
	var err error
	for range socketPolls {
		// Argo only logs a warning when the path is not a socket, then dials anyway.
		if _, err = os.Stat(socketPath); err == nil || !os.IsNotExist(err) {
			break
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return nil, fmt.Errorf("plugin %s context cancelled while waiting for socket at %q: %w", pluginName, socketPath, ctx.Err())
		}
	}
	if err != nil {
		return nil, fmt.Errorf("plugin %s socket at %q: %w", pluginName, socketPath, err)
	}
	conn, err := grpc.NewClient(
		"unix://"+socketPath,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			if len(addr) > 7 && addr[:7] == "unix://" {
				addr = addr[7:]
			}
			dialer := &net.Dialer{Timeout: connectionTimeout}
			return dialer.DialContext(ctx, "unix", addr)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("failed to dial plugin %s at %q: %w", pluginName, socketPath, err)
	}
	ready, cancel := context.WithTimeout(ctx, connectionTimeout)
	defer cancel()
	conn.Connect()
	for state := conn.GetState(); state != connectivity.Ready; state = conn.GetState() {
		if state == connectivity.Shutdown || !conn.WaitForStateChange(ready, state) {
			last := conn.GetState()
			_ = conn.Close()
			return nil, fmt.Errorf("timeout waiting for plugin %s connection to become ready, last state: %s (socket=%q)", pluginName, last, socketPath)
		}
	}
	return &Client{name: pluginName, conn: conn, rpc: artifactpb.NewArtifactServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// RPC is the generated client, for calls made directly.
func (c *Client) RPC() artifactpb.ArtifactServiceClient { return c.rpc }

// SupportsSaveStream asks GetCapabilities; UNIMPLEMENTED means false, as in Argo.
func (c *Client) SupportsSaveStream(ctx context.Context) (bool, error) {
	resp, err := c.rpc.GetCapabilities(ctx, &artifactpb.GetCapabilitiesRequest{})
	if status.Code(err) == codes.Unimplemented {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("plugin %s get capabilities failed: %w", c.name, err)
	}
	return resp.GetSupportsSaveStream(), nil
}

// SaveStream uploads reader to the artifact as argo-server v4.1 does: it
// reports whether the streaming RPC was used (false: temp file and Save).
func (c *Client) SaveStream(ctx context.Context, reader io.Reader, art *artifactpb.Artifact) (streamed bool, err error) {
	supported, err := c.SupportsSaveStream(ctx)
	if err != nil {
		return false, err
	}
	if !supported {
		return false, c.saveViaTempFile(ctx, reader, art)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.SaveStream(ctx)
	if err != nil {
		return true, fmt.Errorf("plugin %s save stream failed to open: %w", c.name, err)
	}
	// After the server aborts, Send returns io.EOF; the real error comes from CloseAndRecv.
	send := func(req *artifactpb.SaveStreamArtifactRequest, action string) error {
		sendErr := stream.Send(req)
		if sendErr == nil {
			return nil
		}
		if _, recvErr := stream.CloseAndRecv(); recvErr != nil {
			return fmt.Errorf("plugin %s save stream failed %s: %w", c.name, action, recvErr)
		}
		return fmt.Errorf("plugin %s save stream failed %s: %w", c.name, action, sendErr)
	}
	if err := send(&artifactpb.SaveStreamArtifactRequest{OutputArtifact: art}, "to send metadata"); err != nil {
		return true, err
	}
	buf := make([]byte, SaveStreamChunkSize)
	for {
		n, readErr := reader.Read(buf)
		if n > 0 {
			chunk := make([]byte, n)
			copy(chunk, buf[:n])
			if err := send(&artifactpb.SaveStreamArtifactRequest{Chunk: chunk}, "mid-transfer"); err != nil {
				return true, err
			}
		}
		if errors.Is(readErr, io.EOF) {
			break
		}
		if readErr != nil {
			return true, fmt.Errorf("plugin %s save stream failed to read artifact content: %w", c.name, readErr)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return true, fmt.Errorf("plugin %s save stream failed: %w", c.name, err)
	}
	if !resp.GetSuccess() {
		return true, fmt.Errorf("plugin %s save stream failed: %s", c.name, resp.GetError())
	}
	return true, nil
}

func (c *Client) saveViaTempFile(ctx context.Context, reader io.Reader, art *artifactpb.Artifact) error {
	f, err := os.CreateTemp("", "plugin-upload-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = io.Copy(f, reader)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("failed to buffer stream to temp file: %w", err)
	}
	resp, err := c.rpc.Save(ctx, &artifactpb.SaveArtifactRequest{Path: f.Name(), OutputArtifact: art})
	if err != nil {
		return fmt.Errorf("plugin %s save failed: %w", c.name, err)
	}
	if !resp.GetSuccess() {
		return fmt.Errorf("plugin %s save failed: %s", c.name, resp.GetError())
	}
	return nil
}
