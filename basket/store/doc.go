// Package store is the durable storage under basket.Open: a write-ahead log
// of opaque records in segment files, and snapshots.
//
// Each record is framed with its length and a CRC32C (Castagnoli) of its
// bytes. Concurrent writers share one fsync (group commit) under SyncAlways.
// A snapshot is written to a temporary file, fsynced, renamed into place and
// the directory fsynced; then the log segments it covers are removed.
//
// Opening a directory takes an exclusive lock on its LOCK file, so two
// processes never share one. Replay reads the newest valid snapshot's
// segment onwards; a torn or corrupt tail of the last segment (a crash in the
// middle of a write) is reported and cut off, while corruption anywhere
// before it is an error: never a silent loss.
//
// # Files
//
//	LOCK                          the lock file
//	wal-<seq>.log                 log segments, seq in 16 hex digits
//	snapshot-<seq>.snap           the state before segment seq
//	snapshot-<seq>.snap.tmp       a snapshot being written
//
// # Caveats
//
//   - The lock is an advisory flock(2): it holds between processes on one
//     machine, not across network file systems that ignore it.
//   - Under SyncInterval and SyncNever an acknowledged record can be lost in
//     a crash of the machine (not of the process alone) until the next
//     fsync.
package store
