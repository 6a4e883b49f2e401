package cluster

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

var fakeAdmin = &KeyPair{CertPEM: []byte("admin-cert"), KeyPEM: []byte("admin-key")}

// writeOtherKubeconfig writes a kubeconfig with a context "other" the user set up
// before devk, and returns what clientcmd reads from it.
func writeOtherKubeconfig(t *testing.T, path string) *clientcmdapi.Config {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["other"] = &clientcmdapi.Cluster{Server: "https://other.example:6443", CertificateAuthorityData: []byte("other-ca"), TLSServerName: "other"}
	cfg.AuthInfos["other"] = &clientcmdapi.AuthInfo{Token: "other-token", Exec: &clientcmdapi.ExecConfig{
		Command: "get-token", Args: []string{"--cluster", "other"}, APIVersion: "client.authentication.k8s.io/v1", InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
	}}
	cfg.Contexts["other"] = &clientcmdapi.Context{Cluster: "other", AuthInfo: "other", Namespace: "team-x"}
	cfg.CurrentContext = "other"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	return loadKubeconfig(t, path)
}

func loadKubeconfig(t *testing.T, path string) *clientcmdapi.Config {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return cfg
}

func assertOtherUnchanged(t *testing.T, before, after *clientcmdapi.Config) {
	t.Helper()
	if !reflect.DeepEqual(before.Clusters["other"], after.Clusters["other"]) {
		t.Errorf("cluster other changed:\n before %+v\n after  %+v", before.Clusters["other"], after.Clusters["other"])
	}
	if !reflect.DeepEqual(before.AuthInfos["other"], after.AuthInfos["other"]) {
		t.Errorf("user other changed:\n before %+v\n after  %+v", before.AuthInfos["other"], after.AuthInfos["other"])
	}
	if !reflect.DeepEqual(before.Contexts["other"], after.Contexts["other"]) {
		t.Errorf("context other changed:\n before %+v\n after  %+v", before.Contexts["other"], after.Contexts["other"])
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != want {
		t.Errorf("%s mode = %o, want %o", path, st.Mode().Perm(), want)
	}
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestMergeKubeconfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	before := writeOtherKubeconfig(t, path)

	if err := MergeKubeconfig(path, "devk", "https://127.0.0.1:32771", []byte("devk-ca"), fakeAdmin); err != nil {
		t.Fatalf("MergeKubeconfig: %v", err)
	}
	after := loadKubeconfig(t, path)
	assertMode(t, path, 0o600)
	assertNoTempFiles(t, filepath.Dir(path))
	assertOtherUnchanged(t, before, after)
	if after.CurrentContext != "devk" {
		t.Errorf("current-context = %q, want devk", after.CurrentContext)
	}
	wantCluster := &clientcmdapi.Cluster{Server: "https://127.0.0.1:32771", CertificateAuthorityData: []byte("devk-ca")}
	wantUser := &clientcmdapi.AuthInfo{ClientCertificateData: []byte("admin-cert"), ClientKeyData: []byte("admin-key")}
	wantContext := &clientcmdapi.Context{Cluster: "devk", AuthInfo: "devk", Namespace: "default"}
	for _, obj := range []any{after.Clusters["devk"], after.AuthInfos["devk"], after.Contexts["devk"]} {
		if obj == nil || reflect.ValueOf(obj).IsNil() {
			t.Fatalf("devk entries missing: %+v", after)
		}
	}
	after.Clusters["devk"].LocationOfOrigin, after.AuthInfos["devk"].LocationOfOrigin, after.Contexts["devk"].LocationOfOrigin = "", "", ""
	after.Clusters["devk"].Extensions, after.AuthInfos["devk"].Extensions, after.Contexts["devk"].Extensions = nil, nil, nil
	if !reflect.DeepEqual(after.Clusters["devk"], wantCluster) {
		t.Errorf("cluster devk = %+v, want %+v", after.Clusters["devk"], wantCluster)
	}
	if !reflect.DeepEqual(after.AuthInfos["devk"], wantUser) {
		t.Errorf("user devk = %+v, want %+v", after.AuthInfos["devk"], wantUser)
	}
	if !reflect.DeepEqual(after.Contexts["devk"], wantContext) {
		t.Errorf("context devk = %+v, want %+v", after.Contexts["devk"], wantContext)
	}
	if got := KubeconfigServer(path, "devk"); got != "https://127.0.0.1:32771" {
		t.Errorf("KubeconfigServer = %q", got)
	}

	// The user picks a namespace and switches context; a restart (new port) merges again.
	cfg := loadKubeconfig(t, path)
	cfg.Contexts["devk"].Namespace = "my-app"
	cfg.CurrentContext = "other"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	if err := MergeKubeconfig(path, "devk", "https://127.0.0.1:40000", []byte("devk-ca-2"), fakeAdmin); err != nil {
		t.Fatalf("second MergeKubeconfig: %v", err)
	}
	again := loadKubeconfig(t, path)
	if ns := again.Contexts["devk"].Namespace; ns != "my-app" {
		t.Errorf("namespace after a second merge = %q, want my-app", ns)
	}
	if again.CurrentContext != "devk" {
		t.Errorf("current-context = %q, want devk", again.CurrentContext)
	}
	if s := again.Clusters["devk"].Server; s != "https://127.0.0.1:40000" {
		t.Errorf("server not updated: %s", s)
	}
	if ca := again.Clusters["devk"].CertificateAuthorityData; !bytes.Equal(ca, []byte("devk-ca-2")) {
		t.Errorf("CA not updated: %s", ca)
	}
	assertOtherUnchanged(t, before, again)
	assertMode(t, path, 0o600)
}

func TestMergeKubeconfigCreatesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "home", ".kube", "config")
	if err := MergeKubeconfig(path, "devk", "https://127.0.0.1:1", []byte("ca"), fakeAdmin); err != nil {
		t.Fatal(err)
	}
	cfg := loadKubeconfig(t, path)
	if len(cfg.Contexts) != 1 || cfg.CurrentContext != "devk" {
		t.Errorf("contexts %v, current %q", cfg.Contexts, cfg.CurrentContext)
	}
	assertMode(t, path, 0o600)
	assertMode(t, filepath.Dir(path), 0o700)
}

func TestMergeKubeconfigCorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	mustWrite(t, path, "{{{ not yaml")
	err := MergeKubeconfig(path, "devk", "https://127.0.0.1:1", []byte("ca"), fakeAdmin)
	if err == nil || !strings.Contains(err.Error(), "fix or move it") {
		t.Fatalf("err = %v, want advice to fix or move the file", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "{{{ not yaml" {
		t.Errorf("a corrupt kubeconfig was overwritten")
	}
}

func TestRemoveKubeconfig(t *testing.T) {
	tests := []struct {
		name        string
		current     string // current-context before the removal
		wantCurrent string
	}{
		{"profile is current", "devk", ""},
		{"other is current", "other", "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			before := writeOtherKubeconfig(t, path)
			if err := MergeKubeconfig(path, "devk", "https://127.0.0.1:1", []byte("ca"), fakeAdmin); err != nil {
				t.Fatal(err)
			}
			cfg := loadKubeconfig(t, path)
			cfg.CurrentContext = tt.current
			if err := clientcmd.WriteToFile(*cfg, path); err != nil {
				t.Fatal(err)
			}
			if err := RemoveKubeconfig(path, "devk"); err != nil {
				t.Fatalf("RemoveKubeconfig: %v", err)
			}
			after := loadKubeconfig(t, path)
			if _, ok := after.Clusters["devk"]; ok {
				t.Errorf("cluster devk kept")
			}
			if _, ok := after.AuthInfos["devk"]; ok {
				t.Errorf("user devk kept")
			}
			if _, ok := after.Contexts["devk"]; ok {
				t.Errorf("context devk kept")
			}
			if after.CurrentContext != tt.wantCurrent {
				t.Errorf("current-context = %q, want %q", after.CurrentContext, tt.wantCurrent)
			}
			assertOtherUnchanged(t, before, after)
			if len(after.Clusters) != 1 || len(after.AuthInfos) != 1 || len(after.Contexts) != 1 {
				t.Errorf("left %d clusters, %d users, %d contexts; want only other's", len(after.Clusters), len(after.AuthInfos), len(after.Contexts))
			}
			if KubeconfigServer(path, "devk") != "" {
				t.Errorf("KubeconfigServer still finds devk")
			}
		})
	}
}

func TestRemoveKubeconfigNoop(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	if err := RemoveKubeconfig(missing, "devk"); err != nil {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("RemoveKubeconfig created %s", missing)
	}
	// Without the profile's context the file is left exactly as it was.
	path := filepath.Join(dir, "config")
	writeOtherKubeconfig(t, path)
	orig, _ := os.ReadFile(path)
	if err := RemoveKubeconfig(path, "devk"); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, orig) {
		t.Errorf("file rewritten although it had no devk context")
	}
	assertMode(t, path, 0o644)
}

func TestKubeconfigServer(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	writeOtherKubeconfig(t, path)
	tests := []struct {
		path, profile, want string
	}{
		{path, "other", "https://other.example:6443"},
		{path, "devk", ""},
		{filepath.Join(dir, "missing"), "other", ""},
	}
	for _, tt := range tests {
		if got := KubeconfigServer(tt.path, tt.profile); got != tt.want {
			t.Errorf("KubeconfigServer(%s, %s) = %q, want %q", filepath.Base(tt.path), tt.profile, got, tt.want)
		}
	}
}

func TestUserKubeconfigPath(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	sep := string(os.PathListSeparator)
	tests := []struct {
		env, want string
	}{
		{"", filepath.Join(home, ".kube", "config")},
		{"/a/config", "/a/config"},
		{"/a/config" + sep + "/b/config", "/a/config"},
	}
	for _, tt := range tests {
		t.Setenv("KUBECONFIG", tt.env)
		got, err := UserKubeconfigPath()
		if err != nil || got != tt.want {
			t.Errorf("KUBECONFIG=%q: got %q, %v; want %q", tt.env, got, err, tt.want)
		}
	}
}

// A kubeconfig kept as a symlink (dotfiles) stays a symlink, even while its target does
// not exist yet; and no lock file is left beside it.
func TestMergeKubeconfigThroughLinks(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "dotfiles", "kubeconfig")
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "config")
	if err := os.Symlink("dotfiles/kubeconfig", link); err != nil { // relative and dangling
		t.Fatal(err)
	}
	if err := MergeKubeconfig(link, "devk", "https://127.0.0.1:1", []byte("ca"), fakeAdmin); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the symlink was replaced: %v %v", st, err)
	}
	if cfg := loadKubeconfig(t, target); cfg.CurrentContext != "devk" {
		t.Errorf("the link's target was not written: %+v", cfg)
	}
	for _, d := range []string{dir, filepath.Dir(target)} {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if strings.Contains(e.Name(), "lock") || strings.Contains(e.Name(), ".tmp") {
				t.Errorf("left beside the kubeconfig: %s", e.Name())
			}
		}
	}
}
