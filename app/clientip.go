package app

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientIP is the address a request came from. It is the peer address,
// unless the peer is a trusted proxy: then it is the right-most entry of
// X-Forwarded-For that is not itself a trusted proxy. Entries left of that
// were written by the client and prove nothing, so a client can never pick
// its own address (and so its own rate-limit key).
func (s *Server) clientIP(r *http.Request) string {
	peer := peerAddr(r.RemoteAddr)
	if !s.trusted(peer) {
		return peer.String()
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			addr, ok := parseHop(parts[j])
			if !ok {
				// A hop we cannot read: stop believing the header here.
				return peer.String()
			}
			if !s.trusted(addr) {
				return addr.String()
			}
			peer = addr
		}
	}
	return peer.String()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHop reads one X-Forwarded-For entry: an address, or an address with
// a port as some proxies write it. Zones are dropped: they name an
// interface of the proxy, not a client.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.IPv6Unspecified()
	}
	return a.Unmap().WithZone("")
}
