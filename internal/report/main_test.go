package report

import (
	"bytes"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// outBuf is a bytes.Buffer safe for a writer goroutine and a reader.
type outBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *outBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *outBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
