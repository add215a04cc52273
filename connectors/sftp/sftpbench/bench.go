// Package sftpbench is `braid bench sftp`: the sftp source reading files
// from an in-process loopback SFTP server into records, beside pkg/sftp
// alone downloading the same files in the same run.
package sftpbench

import (
	"context"
	"io"
	"os"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/braidhq/braid/connectors/internal/remotefs/remotefstest"
	sftpconn "github.com/braidhq/braid/connectors/sftp"
	"github.com/braidhq/braid/connectors/sftp/sftptest"
)

// Options and Result are the shared remote file benchmark's.
type (
	Options = remotefstest.BenchOptions
	Result  = remotefstest.BenchResult
)

// Run starts the server on a temporary directory and runs the benchmark.
func Run(ctx context.Context, o Options) (Result, error) {
	dir, err := os.MkdirTemp("", "braid-bench-sftp-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	srv, err := sftptest.Start()
	if err != nil {
		return Result{}, err
	}
	defer srv.Close()
	return remotefstest.Bench(ctx, remotefstest.BenchTarget{
		Plugin: sftpconn.SourcePlugin(), Config: srv.Config(nil), Local: dir, Remote: dir,
		Raw: func(_ context.Context, paths []string, n int) (int64, error) { return raw(srv, paths, n) },
	}, o)
}

func raw(srv *sftptest.Server, paths []string, n int) (int64, error) {
	conf := &ssh.ClientConfig{User: sftptest.User, Auth: []ssh.AuthMethod{ssh.Password(sftptest.Password)},
		HostKeyCallback: ssh.FixedHostKey(srv.HostKey.PublicKey())}
	return remotefstest.Parallel(paths, n, func() (*sftp.Client, func(), error) {
		sc, err := ssh.Dial("tcp", srv.Addr, conf)
		if err != nil {
			return nil, nil, err
		}
		c, err := sftp.NewClient(sc, sftp.UseConcurrentReads(true))
		if err != nil {
			sc.Close()
			return nil, nil, err
		}
		return c, func() { c.Close(); sc.Close() }, nil
	}, func(c *sftp.Client, p string) (int64, error) {
		f, err := c.Open(p)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		return f.WriteTo(io.Discard)
	})
}
