package loadgen

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// wireServer is an HTTP server that echoes POST bodies and counts its connections and the
// requests its handler saw; /hang answers only once the test ends.
type wireServer struct {
	*httptest.Server
	conns, requests atomic.Int64
}

func newWireServer(t *testing.T) *wireServer {
	ws := &wireServer{}
	hang := make(chan struct{})
	ws.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws.requests.Add(1)
		if r.URL.Path == "/hang" {
			select {
			case <-hang:
			case <-r.Context().Done():
			}
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	ws.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			ws.conns.Add(1)
		}
	}
	ws.Start()
	t.Cleanup(func() { close(hang); ws.Close() })
	return ws
}

func wireClient(timeout time.Duration, next http.RoundTripper) *http.Client {
	return &http.Client{Transport: newWireTransport((&net.Dialer{}).DialContext, next, 4, timeout)}
}

func post(ctx context.Context, hc *http.Client, url, body string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = errors.New(resp.Status)
	}
	return string(got), err
}

// TestWireTransport: the load generator's transport keeps connections alive across requests
// (answers read whole), sends again on a new connection a request whose idle connection the
// server closed, ends a request with its context or its timeout without reusing the
// connection, and leaves https:// to net/http.
func TestWireTransport(t *testing.T) {
	ctx := context.Background()

	t.Run("keep-alive", func(t *testing.T) {
		ws := newWireServer(t)
		hc := wireClient(0, nil)
		for i := range 20 {
			body := strings.Repeat("x", i*500) // up to ~10 KB: answers both sized and chunked
			got, err := post(ctx, hc, ws.URL+"/echo", body)
			if err != nil || got != body {
				t.Fatalf("request %d: %d bytes, %v; want its %d bytes back", i, len(got), err, len(body))
			}
		}
		if n := ws.conns.Load(); n != 1 {
			t.Errorf("20 requests in turn opened %d connections, want 1", n)
		}
	})

	t.Run("server closed the idle connection", func(t *testing.T) {
		ws := newWireServer(t)
		hc := wireClient(0, nil)
		if _, err := post(ctx, hc, ws.URL+"/echo", "one"); err != nil {
			t.Fatal(err)
		}
		ws.CloseClientConnections()
		got, err := post(ctx, hc, ws.URL+"/echo", "two")
		if err != nil || got != "two" {
			t.Fatalf("request after the server closed its connection = %q, %v; want it sent again on a new one", got, err)
		}
		if n := ws.requests.Load(); n != 2 {
			t.Errorf("the handler saw %d requests, want 2 (each once)", n)
		}
		if n := ws.conns.Load(); n != 2 {
			t.Errorf("%d connections, want 2", n)
		}
	})

	t.Run("context ends the request", func(t *testing.T) {
		ws := newWireServer(t)
		hc := wireClient(0, nil)
		cctx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() {
			_, err := post(cctx, hc, ws.URL+"/hang", "")
			errc <- err
		}()
		for ws.requests.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled request = %v, want context.Canceled", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a cancelled request did not return")
		}
		if _, err := post(ctx, hc, ws.URL+"/echo", "next"); err != nil {
			t.Fatal(err)
		}
		if n := ws.conns.Load(); n != 2 {
			t.Errorf("%d connections, want 2: the cancelled request's must not serve the next", n)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		ws := newWireServer(t)
		hc := wireClient(50*time.Millisecond, nil)
		_, err := post(ctx, hc, ws.URL+"/hang", "")
		var nerr net.Error
		if !errors.As(err, &nerr) || !nerr.Timeout() {
			t.Errorf("request to a server that does not answer = %v, want a timeout", err)
		}
		if kind := transportKind(err); kind != "timeout" {
			t.Errorf("transportKind = %q, want timeout", kind)
		}
	})

	t.Run("https goes to net/http", func(t *testing.T) {
		var asked atomic.Int64
		next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			asked.Add(1)
			return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(bytes.NewReader([]byte("tls"))), Request: r}, nil
		})
		got, err := post(ctx, wireClient(0, next), "https://example.invalid/echo", "x")
		if err != nil || got != "tls" || asked.Load() != 1 {
			t.Errorf("https request = %q, %v, next asked %d times; want next's answer", got, err, asked.Load())
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
