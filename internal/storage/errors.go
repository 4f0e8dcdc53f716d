package storage

import "errors"

var (
	// ErrNotFound is returned by Get for a key that is not stored.
	ErrNotFound = errors.New("storage: not found")
	// ErrFormatTooNew means the data directory was written by a newer Pando
	// whose on-disk format this binary cannot read.
	ErrFormatTooNew = errors.New("storage: data directory format is newer than this binary supports")
	// ErrFormatTooOld means the data directory was written by an older Pando
	// whose on-disk format this binary no longer reads.
	ErrFormatTooOld = errors.New("storage: data directory format is older than this binary reads")
	// ErrFormatUnknown means the directory holds a Pebble database without
	// Pando's format marker: it was not written by Pando.
	ErrFormatUnknown = errors.New("storage: data directory was not written by pando")
	// ErrNoSpace refuses a data write: the disk is full, or nearly (see
	// Config.MinFreeBytes and MaxDiskBytes).
	ErrNoSpace = errors.New("storage: writes refused for want of disk space")
	// ErrDiskFailed refuses a data write: the disk failed a write.
	ErrDiskFailed = errors.New("storage: writes refused: the disk failed a write")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("storage: closed")
)
