// Package fileformat is the file handling the file, ftp and sftp connectors
// share: splitting a byte stream into line or CSV records with the byte
// offset after each (Scanner), turning a record into a value and fields by
// format (Decoder), encoding records into jsonl, csv or raw lines
// (Encoder), and the names of sink files, which carry topic, partition and
// offset range so that a replay overwrites instead of duplicating.
package fileformat
