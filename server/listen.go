package server

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strings"

	"github.com/coreos/go-systemd/v22/activation"

	"patchwell/internal/proxyproto"
)

// listeners are a node's sockets, bound before anything else.
type listeners map[string]net.Listener

// listenerNames are a node's sockets, as socket activation names them
// too (FileDescriptorName=).
var listenerNames = []string{"smtp", "lmtp", "imap", "imaps", "http", "metrics"}

// bindListeners binds each named address that is not empty: TCP, or a
// unix socket for an LMTP path; a socket systemd passed under the name
// (socket activation, in given) is taken instead of binding. The
// metrics listener never takes the PROXY protocol (it is for the
// monitoring network).
func bindListeners(listen func(network, addr string) (net.Listener, error), wrap func(net.Listener) net.Listener,
	given map[string]net.Listener, addrs map[string]string) (listeners, error) {
	ls := listeners{}
	for _, name := range listenerNames {
		if l := given[name]; l != nil {
			if name != "metrics" {
				l = wrap(l)
			}
			ls[name] = l
			continue
		}
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

// activated returns the sockets systemd passed (socket activation: the
// LISTEN_FDS protocol, through go-systemd), by their FileDescriptorName=,
// which must be one of listenerNames; none without.
func activated() (map[string]net.Listener, error) {
	byName, err := activation.ListenersWithNames()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	out := map[string]net.Listener{}
	var bad error
	for name, ls := range byName {
		switch {
		case !slices.Contains(listenerNames, name):
			bad = fmt.Errorf("socket activation: a socket named %q (FileDescriptorName= is one of %s)", name, strings.Join(listenerNames, ", "))
		case len(ls) > 1:
			bad = fmt.Errorf("socket activation: %d sockets named %q (one each)", len(ls), name)
		default:
			out[name] = ls[0]
			continue
		}
		for _, l := range ls {
			l.Close()
		}
	}
	if bad != nil {
		for _, l := range out {
			l.Close()
		}
		return nil, bad
	}
	return out, nil
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
// addresses; and wrap, which does the same to a listener made
// elsewhere (socket activation).
func proxyListen(from string) (listen func(network, addr string) (net.Listener, error), wrap func(net.Listener) net.Listener, err error) {
	trusted, err := proxyproto.ParseTrusted(from)
	if err != nil {
		return nil, nil, err
	}
	wrap = func(l net.Listener) net.Listener {
		if len(trusted) == 0 || l.Addr().Network() != "tcp" {
			return l
		}
		return &proxyproto.Listener{Listener: l, Trusted: trusted}
	}
	listen = func(network, addr string) (net.Listener, error) {
		l, err := net.Listen(network, addr)
		if err != nil {
			return nil, err
		}
		return wrap(l), nil
	}
	return listen, wrap, nil
}
