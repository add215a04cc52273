package sftpbench

import (
	"context"
	"testing"
)

// TestRun keeps `braid bench sftp` working: both sides read every byte.
func TestRun(t *testing.T) {
	res, err := Run(context.Background(), Options{Files: 6, Lines: 2000, LineSize: 50, Downloads: 3, Rounds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Lines != 12000 || res.Bytes != 6*2000*50 || res.Ratio <= 0 {
		t.Fatalf("result %+v", res)
	}
	t.Logf("%+v", res)
}
