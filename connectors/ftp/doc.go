// Package ftp holds the ftp source and sink: the remote file source and
// sink of connectors/internal/remotefs over FTP (github.com/jlaffaye/ftp):
// plain, explicit FTPS (AUTH TLS) or implicit FTPS, passive mode (EPSV,
// else PASV), MLSD listings when the server has them and LIST otherwise.
package ftp
