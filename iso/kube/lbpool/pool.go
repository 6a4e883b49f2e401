// Package lbpool decides which address of devk's LoadBalancer pool each LoadBalancer
// Service gets. It is pure (no I/O, standard library only) so it is unit-tested in devk
// and compiled into the node's devk-lb-controller as it is.
package lbpool

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// Range is an inclusive range of IPv4 addresses.
type Range struct{ First, Last netip.Addr }

// ParseRange reads "A.B.C.D-A.B.C.E" (inclusive).
func ParseRange(s string) (Range, error) {
	first, last, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return Range{}, fmt.Errorf("LoadBalancer range %q: use FIRST-LAST, such as 192.168.49.200-192.168.49.254", s)
	}
	a, err1 := netip.ParseAddr(strings.TrimSpace(first))
	b, err2 := netip.ParseAddr(strings.TrimSpace(last))
	if err1 != nil || err2 != nil || !a.Is4() || !b.Is4() || b.Less(a) {
		return Range{}, fmt.Errorf("LoadBalancer range %q: use two IPv4 addresses, the first not after the last", s)
	}
	return Range{a, b}, nil
}

func (r Range) String() string { return r.First.String() + "-" + r.Last.String() }

// Contains reports whether a is in the range.
func (r Range) Contains(a netip.Addr) bool {
	return a.IsValid() && !a.Less(r.First) && !r.Last.Less(a)
}

// Size is the number of addresses in the range.
func (r Range) Size() int {
	f, l := r.First.As4(), r.Last.As4()
	return int(uint32(l[0])<<24|uint32(l[1])<<16|uint32(l[2])<<8|uint32(l[3])) -
		int(uint32(f[0])<<24|uint32(f[1])<<16|uint32(f[2])<<8|uint32(f[3])) + 1
}

// Request is one LoadBalancer Service.
type Request struct {
	Key  string     // namespace/name
	Want netip.Addr // spec.loadBalancerIP, if set
	Have netip.Addr // the address its status shows now, if any
}

// Result is a Service's address, or why it has none (Addr invalid).
type Result struct {
	Key    string
	Addr   netip.Addr
	Reason string
}

// Assign gives each request an address of the range, deterministically: a Service keeps
// the address it has (the oldest claim wins a collision, by key order), a requested
// address is honoured when it is in the range and free, the others get the lowest free
// address; when none is left the Service gets none and the reason says so.
func Assign(r Range, reqs []Request) []Result {
	sorted := append([]Request(nil), reqs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Key < sorted[j].Key })
	taken := map[netip.Addr]string{}
	out := map[string]Result{}
	// Wanted addresses go to who asked for them, kept ones to who has them.
	for _, pass := range []func(Request) netip.Addr{
		func(q Request) netip.Addr {
			if q.Want.IsValid() {
				return q.Want
			}
			return netip.Addr{}
		},
		func(q Request) netip.Addr {
			if !q.Want.IsValid() {
				return q.Have
			}
			return netip.Addr{}
		},
	} {
		for _, q := range sorted {
			a := pass(q)
			if _, done := out[q.Key]; done || !a.IsValid() {
				continue
			}
			switch {
			case !r.Contains(a) && q.Want.IsValid():
				out[q.Key] = Result{Key: q.Key, Reason: fmt.Sprintf("spec.loadBalancerIP %s is not in devk's LoadBalancer range %s", a, r)}
			case !r.Contains(a):
				// Not ours to keep (for example the node's IP, from an older devk).
			case taken[a] != "" && q.Want.IsValid():
				out[q.Key] = Result{Key: q.Key, Reason: fmt.Sprintf("spec.loadBalancerIP %s is already used by %s", a, taken[a])}
			case taken[a] == "":
				taken[a] = q.Key
				out[q.Key] = Result{Key: q.Key, Addr: a}
			}
		}
	}
	next := r.First
	for _, q := range sorted {
		if _, done := out[q.Key]; done {
			continue
		}
		for r.Contains(next) && taken[next] != "" {
			next = next.Next()
		}
		if !r.Contains(next) {
			out[q.Key] = Result{Key: q.Key, Reason: fmt.Sprintf("every address of devk's LoadBalancer range %s is in use (%d); delete a LoadBalancer Service or start the profile with a larger --lb-range", r, r.Size())}
			continue
		}
		taken[next] = q.Key
		out[q.Key] = Result{Key: q.Key, Addr: next}
	}
	results := make([]Result, 0, len(sorted))
	for _, q := range sorted {
		results = append(results, out[q.Key])
	}
	return results
}
