package cluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/devk-dev/devk/driver"
)

// CopyToNode copies the host file src to dst in the node, as cp does: onto a folder (or a
// path ending in /) means into it, keeping src's name. Folders are refused up front.
func CopyToNode(ctx context.Context, node driver.Node, src, dst string) error {
	if !strings.HasPrefix(dst, "/") {
		return fmt.Errorf("%w: the node path %q must be absolute", ErrInvalid, dst)
	}
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%w: %s is a folder; devk cp copies files (for a folder: tar -C %s -c . | devk ssh -- tar -C NODE_DIR -x)", ErrInvalid, src, src)
	}
	if strings.HasSuffix(dst, "/") || nodeIsDir(ctx, node, dst) {
		dst = path.Join(dst, filepath.Base(src))
	}
	return node.CopyTo(ctx, f, st.Size(), dst, int64(st.Mode().Perm()))
}

// CopyFromNode copies the node file src to dst on the host, into dst if it is a folder.
func CopyFromNode(ctx context.Context, node driver.Node, src, dst string) error {
	if nodeIsDir(ctx, node, src) {
		return fmt.Errorf("%w: node:%s is a folder; devk cp copies files (for a folder: devk ssh -- tar -C %s -c . | tar -x)", ErrInvalid, src, src)
	}
	if st, err := os.Stat(dst); err == nil && st.IsDir() || strings.HasSuffix(dst, string(filepath.Separator)) {
		dst = filepath.Join(dst, path.Base(src))
	}
	rc, err := node.CopyFrom(ctx, src)
	if err != nil {
		return err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	return WriteFileAtomic(dst, data, 0o644)
}

// nodeIsDir runs test -d without a shell: the path is an argument, not script text.
func nodeIsDir(ctx context.Context, node driver.Node, p string) bool {
	return node.Exec(ctx, []string{"test", "-d", p}, driver.ExecOptions{}) == nil
}
