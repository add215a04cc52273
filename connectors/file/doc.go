// Package file holds the file source and the file sink.
//
// The source reads one file or a glob of files as lines, CSV (the first line
// names the columns) or JSON lines, once or in follow mode (tail -F: it keeps
// reading as files grow and survives rotation by rename and truncation). Its
// Position is a small JSON document with the path, inode and byte offset of
// every file it tracks, so a restart resumes right after the last acknowledged
// record.
//
// The sink writes JSON lines, CSV or raw lines into one directory. Each file
// is named after its topic, partition and offset range and only appears
// (renamed from a hidden temporary name, after fsync) when the worker
// flushes, so a replay rewrites files instead of duplicating records and the
// sink can tell the worker, from the names alone, which offsets are already
// durable. A name never covers a record that was rejected and not yet dealt
// with: Close deletes what was not flushed.
package file
