// Package mounttest gives tests a real, small file system they can fill up
// or make read-only: a tmpfs mounted on a directory (which needs root; the
// test is skipped otherwise) and remounts with other options.
package mounttest

import (
	"os/exec"
	"testing"
	"time"
)

// Tmpfs mounts a tmpfs of size (for example "4m") on dir, skipping the test
// when this process may not mount, and unmounts it at cleanup.
func Tmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount -t tmpfs not permitted (the full-disk and read-only tests need root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}

// Remount changes the mount options of dir (for example "ro" or "rw"),
// retrying for up to 5 s while a file is open for writing (remount,ro
// fails with EBUSY then).
func Remount(t *testing.T, dir, opts string) {
	t.Helper()
	var out []byte
	var err error
	for range 250 {
		if out, err = exec.Command("mount", "-o", "remount,"+opts, dir).CombinedOutput(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("mount -o remount,%s %s: %v: %s", opts, dir, err, out)
}
