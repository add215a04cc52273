// Package audit is the audit sink: an append-only, tamper-evident log of
// every record, as JSON lines chained by SHA-256.
//
// Each entry carries the hash of the entry before it (prev_hash) and its own
// hash over its canonical JSON, so changing, removing, inserting or reordering
// any entry breaks the chain at that line. Files rotate daily
// (audit-2026-11-27.jsonl) and the chain runs on across files and restarts.
// Verify checks a directory or a file and names the first broken line; the
// CLI runs it as `braid audit verify PATH`.
package audit
