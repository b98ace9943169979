package prober

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/idleprobe/idleprobe/prober/plan"
)

func TestClassify(t *testing.T) {
	op := func(e error) error { return &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", e)} }
	acked := func() (tcpState, error) { return tcpState{}, nil }
	unacked := func() (tcpState, error) { return tcpState{Unacked: 1}, nil }
	notSent := func() (tcpState, error) { return tcpState{NotSent: 10}, nil }
	unknown := func() (tcpState, error) { return tcpState{}, errors.New("bad fd") }
	for _, tc := range []struct {
		name  string
		err   error
		acked ackState
		want  plan.Outcome
	}{
		{"nil", nil, nil, plan.OK},
		{"econnreset", syscall.ECONNRESET, nil, plan.Reset},
		{"econnreset-op", op(syscall.ECONNRESET), nil, plan.Reset},
		{"econnreset-wrapped", fmt.Errorf("reading: %w", op(syscall.ECONNRESET)), nil, plan.Reset},
		{"econnaborted", op(syscall.ECONNABORTED), nil, plan.Reset},
		{"epipe", &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}, nil, plan.Reset},
		{"etimedout", op(syscall.ETIMEDOUT), acked, plan.Dropped},
		{"ehostunreach", op(syscall.EHOSTUNREACH), nil, plan.Dropped},
		{"eof", io.EOF, nil, plan.ClosedOnReuse},
		{"eof-wrapped", fmt.Errorf("x: %w", io.EOF), nil, plan.ClosedOnReuse},
		{"unexpected-eof", io.ErrUnexpectedEOF, nil, plan.ClosedOnReuse},
		{"deadline-unacked", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, unacked, plan.Dropped},
		{"deadline-acked", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, acked, plan.Slow},
		{"deadline-not-sent", os.ErrDeadlineExceeded, notSent, plan.Slow},
		{"deadline-unknown", os.ErrDeadlineExceeded, unknown, plan.Slow},
		{"deadline-nil-acked", os.ErrDeadlineExceeded, nil, plan.Slow},
		{"ctx-deadline-unacked", context.DeadlineExceeded, unacked, plan.Dropped},
		{"canceled", context.Canceled, unacked, plan.Error},
		{"closed", net.ErrClosed, nil, plan.Error},
		{"too-large", errBodyTooLarge, nil, plan.Error},
		{"malformed", errors.New("malformed response: bad status line\nsecond line"), nil, plan.Error},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, detail := classify(tc.err, tc.acked)
			if got != tc.want {
				t.Errorf("classify(%v) = %s (%s), want %s", tc.err, got, detail, tc.want)
			}
			if tc.err != nil && detail == "" {
				t.Errorf("classify(%v): empty detail", tc.err)
			}
			for _, r := range detail {
				if r == '\n' {
					t.Errorf("detail %q has a newline", detail)
				}
			}
		})
	}
}

func TestCloseDetail(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{io.EOF, "EOF"},
		{&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, "connection reset by peer"},
		{&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ETIMEDOUT)}, "connection timed out"},
		{&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.EHOSTUNREACH)}, syscall.EHOSTUNREACH.Error()},
	} {
		if got := closeDetail(tc.err); got != tc.want {
			t.Errorf("closeDetail(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
