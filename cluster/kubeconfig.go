package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// UserKubeconfigPath is where devk writes contexts: the first $KUBECONFIG entry, else
// ~/.kube/config, as kubectl reads them.
func UserKubeconfigPath() (string, error) {
	for _, p := range filepath.SplitList(os.Getenv("KUBECONFIG")) {
		if p != "" {
			return p, nil
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find home directory (set KUBECONFIG): %w", err)
	}
	return filepath.Join(home, ".kube", "config"), nil
}

// updateKubeconfig loads path (empty when missing), applies change and writes it back
// atomically with mode 0600, under a lock so concurrent devk commands do not lose writes.
func updateKubeconfig(path string, change func(*clientcmdapi.Config) bool) error {
	// Write through a symlink (a kubeconfig kept in a dotfiles repository) rather than
	// replace it, even one whose target does not exist yet.
	path = followLinks(path)
	unlock, err := LockTransient(path+".devk-lock", time.Minute)
	if err != nil {
		return err
	}
	defer unlock()
	cfg, err := clientcmd.LoadFromFile(path)
	if errors.Is(err, os.ErrNotExist) {
		cfg, err = clientcmdapi.NewConfig(), nil
	}
	if err != nil {
		return fmt.Errorf("read kubeconfig %s (fix or move it and retry): %w", path, err)
	}
	if !change(cfg) {
		return nil
	}
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("encode kubeconfig: %w", err)
	}
	return WriteFileAtomic(path, data, 0o600)
}

// MergeKubeconfig adds or replaces the cluster, user and context named after the
// profile, makes that context current, and leaves every other entry as it was.
func MergeKubeconfig(path, profile, server string, caPEM []byte, admin *KeyPair) error {
	entry := Kubeconfig(profile, profile, server, caPEM, admin)
	return updateKubeconfig(path, func(cfg *clientcmdapi.Config) bool {
		cfg.Clusters[profile] = entry.Clusters[profile]
		cfg.AuthInfos[profile] = entry.AuthInfos[profile]
		namespace := "default"
		if old, ok := cfg.Contexts[profile]; ok && old.Namespace != "" {
			namespace = old.Namespace // the user's choice of namespace survives a restart
		}
		cfg.Contexts[profile] = &clientcmdapi.Context{Cluster: profile, AuthInfo: profile, Namespace: namespace}
		cfg.CurrentContext = profile
		return true
	})
}

// RemoveKubeconfig deletes the profile's cluster, user and context.
func RemoveKubeconfig(path, profile string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return updateKubeconfig(path, func(cfg *clientcmdapi.Config) bool {
		_, hadContext := cfg.Contexts[profile]
		_, hadCluster := cfg.Clusters[profile]
		_, hadUser := cfg.AuthInfos[profile]
		had := hadContext || hadCluster || hadUser
		delete(cfg.Clusters, profile)
		delete(cfg.AuthInfos, profile)
		delete(cfg.Contexts, profile)
		if cfg.CurrentContext == profile {
			cfg.CurrentContext = ""
		}
		return had
	})
}

// KubeconfigServer returns the server the profile's context points at, "" if none.
func KubeconfigServer(path, profile string) string {
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return ""
	}
	ctx, ok := cfg.Contexts[profile]
	if !ok {
		return ""
	}
	if c, ok := cfg.Clusters[ctx.Cluster]; ok {
		return c.Server
	}
	return ""
}

// followLinks resolves path while it is a symbolic link, dangling or not.
func followLinks(path string) string {
	for i := 0; i < 40; i++ { // as the kernel's limit
		target, err := os.Readlink(path)
		if err != nil {
			return path
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(path), target)
		}
		path = target
	}
	return path
}
