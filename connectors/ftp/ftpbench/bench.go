// Package ftpbench is `braid bench ftp`: the ftp source reading files from
// an in-process loopback FTP server into records, beside jlaffaye/ftp
// alone downloading the same files in the same run.
package ftpbench

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/jlaffaye/ftp"

	ftpconn "github.com/braidhq/braid/connectors/ftp"
	"github.com/braidhq/braid/connectors/ftp/ftptest"
	"github.com/braidhq/braid/connectors/internal/remotefs/remotefstest"
)

// Options and Result are the shared remote file benchmark's.
type (
	Options = remotefstest.BenchOptions
	Result  = remotefstest.BenchResult
)

// Run starts the server (plain FTP) on a temporary directory and runs the
// benchmark.
func Run(ctx context.Context, o Options) (Result, error) {
	dir, err := os.MkdirTemp("", "braid-bench-ftp-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	srv, err := ftptest.Start(ftptest.Options{Root: dir})
	if err != nil {
		return Result{}, err
	}
	defer srv.Close()
	return remotefstest.Bench(ctx, remotefstest.BenchTarget{
		Plugin: ftpconn.SourcePlugin(), Config: srv.Config("none", nil), Local: dir, Remote: "/",
		Raw: func(_ context.Context, paths []string, n int) (int64, error) { return raw(srv, paths, n) },
	}, o)
}

func raw(srv *ftptest.Server, paths []string, n int) (int64, error) {
	return remotefstest.Parallel(paths, n, func() (*ftp.ServerConn, func(), error) {
		c, err := ftp.Dial(fmt.Sprintf("127.0.0.1:%d", srv.Port))
		if err != nil {
			return nil, nil, err
		}
		if err := c.Login(ftptest.User, ftptest.Password); err != nil {
			c.Quit()
			return nil, nil, err
		}
		return c, func() { c.Quit() }, nil
	}, func(c *ftp.ServerConn, p string) (int64, error) {
		r, err := c.Retr(p)
		if err != nil {
			return 0, err
		}
		m, err := io.Copy(io.Discard, r)
		if cerr := r.Close(); err == nil {
			err = cerr
		}
		return m, err
	})
}
