package server

import (
	"fmt"
	"net"
	"os"
	"strings"

	"patchwell/internal/proxyproto"
)

// listeners are a node's sockets, bound before anything else.
type listeners map[string]net.Listener

// bindListeners binds each named address that is not empty: TCP, or a
// unix socket for an LMTP path. The metrics listener never takes the
// PROXY protocol (it is for the monitoring network).
func bindListeners(listen func(network, addr string) (net.Listener, error), addrs map[string]string) (listeners, error) {
	ls := listeners{}
	for _, name := range []string{"smtp", "lmtp", "imap", "imaps", "http", "metrics"} {
		addr := addrs[name]
		if addr == "" {
			continue
		}
		network := "tcp"
		if name == "lmtp" && strings.Contains(addr, "/") {
			network = "unix"
			os.Remove(addr)
		}
		var l net.Listener
		var err error
		if name == "metrics" {
			l, err = net.Listen(network, addr)
		} else {
			l, err = listen(network, addr)
		}
		if err != nil {
			ls.close()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		ls[name] = l
	}
	return ls, nil
}

// take hands the listener named over to its server (nil when not bound).
func (ls listeners) take(name string) net.Listener {
	l := ls[name]
	delete(ls, name)
	return l
}

// close closes the listeners no server took.
func (ls listeners) close() {
	for name, l := range ls {
		l.Close()
		delete(ls, name)
	}
}

// proxyListen returns the listen function: net.Listen, and with trusted
// load balancers (Config.ProxyProtocolFrom) TCP listeners that read
// their PROXY headers, so that smtpd, imapd and web see clients'
// addresses.
func proxyListen(from string) (func(network, addr string) (net.Listener, error), error) {
	trusted, err := proxyproto.ParseTrusted(from)
	if err != nil {
		return nil, err
	}
	return func(network, addr string) (net.Listener, error) {
		l, err := net.Listen(network, addr)
		if err != nil || len(trusted) == 0 || network != "tcp" {
			return l, err
		}
		return &proxyproto.Listener{Listener: l, Trusted: trusted}, nil
	}, nil
}
