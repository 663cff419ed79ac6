//go:build unix

package imapd

import (
	"errors"
	"net"
	"syscall"
)

// peekPeer looks at the client's side of the connection without reading
// from it: the end of its stream (it closed, or shut down its sending
// side), or a reset (it closed, and data we sent after that came back
// refused). Data waiting or nothing yet, or a connection that is not a
// socket, is neither.
func peekPeer(c net.Conn) (eof, reset bool) {
	for {
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = u.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, false
	}
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil:
			eof = n == 0
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EWOULDBLOCK), errors.Is(err, syscall.EINTR):
		default:
			reset = true
		}
		return true
	})
	return eof, reset || err != nil
}
