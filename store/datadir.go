package store

// The SQLite data directory as a whole: its lock, and the swap of its
// database for one rebuilt beside it (reindex).

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockDir takes the data directory's lock file, held by serve and reindex
// (and migrate, on a data directory): reindex replaces the database,
// which a running server must not have open. It makes the directory if
// there is none. The lock lasts until unlock is called or the process
// ends.
func LockDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "patchwell.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another patchwell serve or reindex", dir)
	}
	return func() { f.Close() }, nil
}

// dbFiles are the files of a SQLite database: the database, its
// write-ahead log and the log's index.
var dbFiles = []string{DBFile, DBFile + "-wal", DBFile + "-shm"}

// ReplaceDB puts the SQLite database of the directory from in the place
// of dir's, whose files are kept beside it with keep appended to their
// names. Both stores must be closed, and dir locked (LockDir).
func ReplaceDB(dir, from, keep string) error {
	for _, name := range dbFiles {
		old := filepath.Join(dir, name)
		if _, err := os.Stat(old); err == nil {
			if err := os.Rename(old, old+keep); err != nil {
				return err
			}
		}
	}
	for _, name := range dbFiles {
		src := filepath.Join(from, name)
		if _, err := os.Stat(src); err == nil {
			if err := os.Rename(src, filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	return syncFile(dir)
}
