// Package h2watch is a Unix-socket proxy between a gRPC client and a plugin
// that forwards bytes unchanged (same reads, same writes, so frames keep
// their grouping) and reads the HTTP/2 frames going by: how many connections
// the client opened, which RST_STREAMs each side sent and whether the server
// sent a GOAWAY. It is how a test sees what grpc-go puts on the wire.
package h2watch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// HTTP/2 frame types and error codes (RFC 9113), the ones counted here.
const (
	frameRSTStream  = 0x3
	frameGoAway     = 0x7
	frameHeaderSize = 9
	// ErrCodeCancel is RST_STREAM(CANCEL), what grpc-go sends for a cancelled call.
	ErrCodeCancel = 0x8
)

// clientPreface starts every HTTP/2 client connection before its first frame.
const clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// GoAway is a GOAWAY frame the server sent.
type GoAway struct {
	Code  uint32
	Debug string
}

// Stats is what went through the proxy so far.
type Stats struct {
	Connections int
	// ClientResets and ServerResets count RST_STREAM frames by error code.
	ClientResets map[uint32]int
	ServerResets map[uint32]int
	GoAways      []GoAway
}

// Proxy listens on one Unix socket and forwards every connection to another.
type Proxy struct {
	listener net.Listener
	target   string
	mu       sync.Mutex
	stats    Stats
	conns    []net.Conn
	wg       sync.WaitGroup
}

// Listen starts a proxy on socket that forwards to target.
func Listen(socket, target string) (*Proxy, error) {
	l, err := net.Listen("unix", socket)
	if err != nil {
		return nil, err
	}
	p := &Proxy{listener: l, target: target, stats: Stats{
		ClientResets: map[uint32]int{}, ServerResets: map[uint32]int{},
	}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Close stops accepting connections, closes those still open and waits for
// their copies to end.
func (p *Proxy) Close() error {
	err := p.listener.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// Stats returns a copy of the counts so far.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.ClientResets = copyCounts(s.ClientResets)
	s.ServerResets = copyCounts(s.ServerResets)
	s.GoAways = append([]GoAway(nil), s.GoAways...)
	return s
}

func copyCounts(m map[uint32]int) map[uint32]int {
	c := make(map[uint32]int, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.listener.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("unix", p.target)
		p.mu.Lock()
		p.stats.Connections++
		if err == nil {
			p.conns = append(p.conns, client, server)
		}
		p.mu.Unlock()
		if err != nil {
			_ = client.Close()
			continue
		}
		p.wg.Add(2)
		go p.pipe(server, client, &frameReader{skip: len(clientPreface), onFrame: p.clientFrame})
		go p.pipe(client, server, &frameReader{onFrame: p.serverFrame})
	}
}

// pipe copies src to dst read by read, showing each read to the frame reader.
func (p *Proxy) pipe(dst, src net.Conn, frames *frameReader) {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			frames.feed(buf[:n])
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			// Half-close so the other side sees EOF, then let its copy end both.
			if c, ok := dst.(*net.UnixConn); ok && errors.Is(err, io.EOF) {
				_ = c.CloseWrite()
			} else {
				_ = dst.Close()
			}
			_ = src.Close()
			return
		}
	}
}

func (p *Proxy) clientFrame(kind byte, payload []byte) {
	if kind == frameRSTStream && len(payload) >= 4 {
		p.mu.Lock()
		p.stats.ClientResets[binary.BigEndian.Uint32(payload)]++
		p.mu.Unlock()
	}
}

func (p *Proxy) serverFrame(kind byte, payload []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case kind == frameRSTStream && len(payload) >= 4:
		p.stats.ServerResets[binary.BigEndian.Uint32(payload)]++
	case kind == frameGoAway && len(payload) >= 8:
		p.stats.GoAways = append(p.stats.GoAways, GoAway{
			Code: binary.BigEndian.Uint32(payload[4:8]), Debug: string(payload[8:]),
		})
	}
}

// frameReader splits a byte stream into HTTP/2 frames, across reads.
type frameReader struct {
	skip    int // bytes of the client preface still to pass over
	pending []byte
	onFrame func(kind byte, payload []byte)
}

func (r *frameReader) feed(b []byte) {
	if r.skip > 0 {
		n := min(r.skip, len(b))
		r.skip -= n
		b = b[n:]
	}
	r.pending = append(r.pending, b...)
	for len(r.pending) >= frameHeaderSize {
		length := int(r.pending[0])<<16 | int(r.pending[1])<<8 | int(r.pending[2])
		if len(r.pending) < frameHeaderSize+length {
			break
		}
		r.onFrame(r.pending[3], r.pending[frameHeaderSize:frameHeaderSize+length])
		r.pending = r.pending[frameHeaderSize+length:]
	}
	// Keep only what is not parsed yet (a large DATA frame's tail).
	r.pending = append([]byte(nil), r.pending...)
}

// CodeName names the error codes that matter here; others by number.
func CodeName(code uint32) string {
	switch code {
	case 0x0:
		return "NO_ERROR"
	case 0x1:
		return "PROTOCOL_ERROR"
	case 0x2:
		return "INTERNAL_ERROR"
	case 0xb:
		return "ENHANCE_YOUR_CALM"
	case ErrCodeCancel:
		return "CANCEL"
	}
	return fmt.Sprintf("0x%x", code)
}
