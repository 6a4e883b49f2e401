package cluster

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"

	"github.com/devk-dev/devk/driver"
)

// fakeAddons records what Start asks of its AddonApplier.
type fakeAddons struct {
	defaults []string
	applied  [][]string
	prepared [][]string
	err      error
}

func (f *fakeAddons) Defaults() []string { return f.defaults }

func (f *fakeAddons) Prepare(ctx context.Context, node driver.Node, prof *Profile) error {
	if node == nil {
		return errors.New("no node")
	}
	f.prepared = append(f.prepared, slices.Clone(prof.Addons))
	return nil
}

func (f *fakeAddons) Apply(ctx context.Context, node driver.Node, api ManifestApplier, prof *Profile) (func() error, error) {
	if node == nil || api == nil {
		return nil, errors.New("no node or API")
	}
	f.applied = append(f.applied, slices.Clone(prof.Addons))
	return func() error { return f.err }, nil
}

func TestStartAppliesAddons(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	pki := newTestPKI(t, e.m.Home.CertsDir("devk"), "devk", testNodeIP)
	srv, _ := fakeAPIServer(t, pki)
	e.node.hostPorts[APIServerPort] = srv.Listener.Addr().(*net.TCPAddr).Port
	addons := &fakeAddons{defaults: []string{"storage", "class"}}
	e.m.Addons = addons

	steps := []struct {
		name      string
		requested []string
		want      []string
	}{
		{"new profile: defaults plus requested", []string{"metrics", "storage"}, []string{"storage", "class", "metrics"}},
		{"restart keeps the list", nil, []string{"storage", "class", "metrics"}},
		{"--addons on an existing profile adds", []string{"ingress"}, []string{"storage", "class", "metrics", "ingress"}},
	}
	for i, s := range steps {
		if _, err := e.m.Start(ctx, StartOptions{Profile: "devk", Addons: s.requested}); err != nil {
			t.Fatalf("%s: Start: %v", s.name, err)
		}
		if len(addons.applied) != i+1 || !slices.Equal(addons.applied[i], s.want) || !slices.Equal(addons.prepared[i], s.want) {
			t.Fatalf("%s: prepared %v, applied %v, want %v", s.name, addons.prepared, addons.applied, s.want)
		}
		saved, err := e.m.Home.Load("devk")
		if err != nil || !slices.Equal(saved.Addons, s.want) {
			t.Fatalf("%s: saved addons %v (%v), want %v", s.name, saved.Addons, err, s.want)
		}
	}

	addons.err = errors.New("addon broke")
	if _, err := e.m.Start(ctx, StartOptions{Profile: "devk"}); err == nil || err.Error() != "addon broke" {
		t.Errorf("Start with a failing addon = %v", err)
	}
}

func TestAppendNew(t *testing.T) {
	tests := []struct {
		list, names, want []string
	}{
		{nil, nil, nil},
		{[]string{"a"}, nil, []string{"a"}},
		{nil, []string{"a", "a"}, []string{"a"}},
		{[]string{"a", "b"}, []string{"b", "c"}, []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		list := slices.Clone(tt.list)
		got := appendNew(list, tt.names...)
		if !slices.Equal(got, tt.want) {
			t.Errorf("appendNew(%v, %v) = %v, want %v", tt.list, tt.names, got, tt.want)
		}
		if !slices.Equal(list, tt.list) {
			t.Errorf("appendNew changed its input")
		}
	}
}
