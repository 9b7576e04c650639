package loadgen

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// wireTransport is the load generator's HTTP/1.1 transport for http:// URLs: a request is
// written, and its answer read, on the goroutine that sends it, over a kept-alive connection
// taken from an idle list. net/http's Transport runs two goroutines for each connection and
// hands every request and answer across them; on a machine that shares its two cores with
// the server under test, those hand-offs were about a quarter of the load generator's CPU,
// which the server's figures then lacked. Other schemes (https) go to next.
//
// It honours the request's context (its deadline, and its cancellation through the
// connection's deadline), bounds a request without a deadline by timeout (in place of
// http.Client.Timeout, which starts a goroutine per request), and reuses a connection only
// once its answer has been read to the end. A request that fails on a connection taken from
// the idle list before any byte of an answer arrived (the server closed it meanwhile) is
// sent once more on a new connection, as net/http does for a request whose body it can
// replay.
type wireTransport struct {
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	next    http.RoundTripper
	maxIdle int           // per host
	timeout time.Duration // for a request whose context has no deadline; 0: none

	mu   sync.Mutex
	idle map[string][]*wireConn // by host:port
}

func newWireTransport(dial func(ctx context.Context, network, addr string) (net.Conn, error), next http.RoundTripper, maxIdle int, timeout time.Duration) *wireTransport {
	return &wireTransport{dial: dial, next: next, maxIdle: maxIdle, timeout: timeout, idle: map[string][]*wireConn{}}
}

// wireConn is a connection with its buffers, which live as long as it does.
type wireConn struct {
	net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

// aLongTimeAgo is a deadline in the past: it ends every pending read and write.
var aLongTimeAgo = time.Unix(1, 0)

func (t *wireTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" {
		return t.next.RoundTrip(req)
	}
	addr := req.URL.Host
	if req.URL.Port() == "" {
		addr = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	c, reused, err := t.conn(req.Context(), addr)
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	resp, err := t.send(c, req, addr)
	var na *noAnswerError
	if err != nil && reused && req.GetBody != nil && errors.As(err, &na) && req.Context().Err() == nil {
		body, berr := req.GetBody()
		if berr != nil {
			return nil, err
		}
		retry := req.Clone(req.Context())
		retry.Body = body
		if c, err = t.dialConn(req.Context(), addr); err != nil {
			body.Close()
			return nil, err
		}
		return t.send(c, retry, addr)
	}
	return resp, err
}

// noAnswerError is a failure, other than a timeout, before the first byte of an answer was
// read: the server may have closed the connection before it read the request.
type noAnswerError struct{ err error }

func (e *noAnswerError) Error() string { return e.err.Error() }
func (e *noAnswerError) Unwrap() error { return e.err }

// noAnswer returns err as a noAnswerError, unless it is a timeout, which stays as it is
// (http.Client's error reports a timeout only if the transport's error is one itself).
func noAnswer(err error) error {
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return err
	}
	return &noAnswerError{err}
}

// send writes req on c and reads the head of its answer; the answer's body gives c back
// (wireBody). On failure c is closed.
func (t *wireTransport) send(c *wireConn, req *http.Request, addr string) (*http.Response, error) {
	ctx := req.Context()
	deadline, ok := ctx.Deadline()
	if !ok && t.timeout > 0 {
		deadline = time.Now().Add(t.timeout)
	}
	if err := c.SetDeadline(deadline); err != nil {
		c.Close()
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(aLongTimeAgo) })
	fail := func(err error) (*http.Response, error) {
		stop()
		c.Close()
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	err := req.Write(c.bw) // closes req.Body
	if err == nil {
		err = c.bw.Flush()
	}
	if err != nil {
		return fail(noAnswer(err))
	}
	if _, err := c.br.Peek(1); err != nil {
		return fail(noAnswer(err))
	}
	resp, err := http.ReadResponse(c.br, req)
	if err != nil {
		return fail(err)
	}
	resp.Body = &wireBody{body: resp.Body, t: t, c: c, addr: addr, stop: stop, reuse: !resp.Close && !req.Close}
	return resp, nil
}

// conn returns an idle connection to addr, or a new one; reused tells which.
func (t *wireTransport) conn(ctx context.Context, addr string) (c *wireConn, reused bool, err error) {
	t.mu.Lock()
	if list := t.idle[addr]; len(list) > 0 {
		c = list[len(list)-1]
		t.idle[addr] = list[:len(list)-1]
	}
	t.mu.Unlock()
	if c != nil {
		return c, true, nil
	}
	c, err = t.dialConn(ctx, addr)
	return c, false, err
}

func (t *wireTransport) dialConn(ctx context.Context, addr string) (*wireConn, error) {
	nc, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &wireConn{Conn: nc, br: bufio.NewReader(nc), bw: bufio.NewWriter(nc)}, nil
}

// put gives c back to the idle list, or closes it when the list is full.
func (t *wireTransport) put(addr string, c *wireConn) {
	t.mu.Lock()
	if len(t.idle[addr]) < t.maxIdle {
		t.idle[addr] = append(t.idle[addr], c)
		c = nil
	}
	t.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// CloseIdleConnections closes the idle connections, as http.Client.CloseIdleConnections
// asks of its transport.
func (t *wireTransport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*wireConn{}
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.Close()
		}
	}
	if ci, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// wireBody is an answer's body: closing it gives its connection back once the body was read
// to the end (net/http's Close reads what is left), or closes the connection.
type wireBody struct {
	body   io.ReadCloser
	t      *wireTransport
	c      *wireConn
	addr   string
	stop   func() bool
	reuse  bool
	closed bool
}

func (b *wireBody) Read(p []byte) (int, error) { return b.body.Read(p) }

func (b *wireBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	err := b.body.Close()
	// stop reports false when the context's end has already set the connection's deadline
	// in the past: the connection cannot serve another request.
	if b.stop() && b.reuse && err == nil {
		b.t.put(b.addr, b.c)
	} else {
		b.c.Close()
	}
	return err
}
