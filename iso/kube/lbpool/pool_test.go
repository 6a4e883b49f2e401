package lbpool

import (
	"net/netip"
	"strings"
	"testing"
)

func addr(s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	return netip.MustParseAddr(s)
}

func TestAssign(t *testing.T) {
	r, err := ParseRange("10.0.0.200-10.0.0.202")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		reqs []Request
		want map[string]string // key -> address, or "!substring" of the reason
	}{
		{"two services on the same port get two addresses", []Request{{Key: "default/a"}, {Key: "default/b"}},
			map[string]string{"default/a": "10.0.0.200", "default/b": "10.0.0.201"}},
		{"a service keeps its address when another comes first", []Request{{Key: "default/a"}, {Key: "default/b", Have: addr("10.0.0.200")}},
			map[string]string{"default/b": "10.0.0.200", "default/a": "10.0.0.201"}},
		{"the node IP from an older devk is replaced", []Request{{Key: "x/a", Have: addr("10.0.0.2")}, {Key: "x/b", Have: addr("10.0.0.2")}},
			map[string]string{"x/a": "10.0.0.200", "x/b": "10.0.0.201"}},
		{"a requested address is honoured", []Request{{Key: "x/a", Have: addr("10.0.0.202")}, {Key: "x/b", Want: addr("10.0.0.202")}},
			map[string]string{"x/b": "10.0.0.202", "x/a": "10.0.0.200"}},
		{"a requested address outside the range is refused", []Request{{Key: "x/a", Want: addr("10.0.0.9")}},
			map[string]string{"x/a": "!not in devk's LoadBalancer range 10.0.0.200-10.0.0.202"}},
		{"a requested address in use by another request is refused", []Request{{Key: "x/a", Want: addr("10.0.0.201")}, {Key: "x/b", Want: addr("10.0.0.201")}},
			map[string]string{"x/a": "10.0.0.201", "x/b": "!already used by x/a"}},
		{"an exhausted range leaves the last pending", []Request{{Key: "x/a"}, {Key: "x/b"}, {Key: "x/c"}, {Key: "x/d"}},
			map[string]string{"x/a": "10.0.0.200", "x/b": "10.0.0.201", "x/c": "10.0.0.202", "x/d": "!every address"}},
		{"a released address is handed out again", []Request{{Key: "x/c", Have: addr("10.0.0.202")}, {Key: "x/new"}},
			map[string]string{"x/c": "10.0.0.202", "x/new": "10.0.0.200"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Assign(r, tt.reqs)
			if len(got) != len(tt.reqs) {
				t.Fatalf("%d results for %d requests", len(got), len(tt.reqs))
			}
			for _, res := range got {
				want := tt.want[res.Key]
				if reason, ok := strings.CutPrefix(want, "!"); ok {
					if res.Addr.IsValid() || !strings.Contains(res.Reason, reason) {
						t.Errorf("%s: %v %q, want none because %q", res.Key, res.Addr, res.Reason, reason)
					}
				} else if res.Addr.String() != want {
					t.Errorf("%s: %v (%s), want %s", res.Key, res.Addr, res.Reason, want)
				}
			}
		})
	}
}

func TestParseRange(t *testing.T) {
	for _, bad := range []string{"", "10.0.0.1", "10.0.0.9-10.0.0.1", "a-b", "::1-::2"} {
		if _, err := ParseRange(bad); err == nil {
			t.Errorf("ParseRange(%q) accepted", bad)
		}
	}
	r, err := ParseRange(" 192.168.49.200-192.168.49.254 ")
	if err != nil || r.Size() != 55 || r.String() != "192.168.49.200-192.168.49.254" {
		t.Errorf("%v %v size %d", r, err, r.Size())
	}
}
