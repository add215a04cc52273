package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/braidhq/braid/pipelines"
	"github.com/braidhq/braid/runtime/api"
	"github.com/braidhq/braid/runtime/engine"
	"github.com/braidhq/braid/schema/registry"
	"github.com/fsnotify/fsnotify"
)

// reloadDebounce lets an editor finish writing (or renaming) before a reload.
const reloadDebounce = 200 * time.Millisecond

// serve starts the REST API and the pipeline file watcher; it returns a stop function.
func serve(ctx context.Context, f *runFlags, eng *engine.Engine, logger *slog.Logger) (func(), error) {
	var stops []func()
	stopAll := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if f.levels == nil {
		f.levels = api.NewLevels(slog.LevelInfo)
	}
	if p := eng.Current(); p != nil {
		f.levels.AddSecrets(api.PipelineSecrets(p)...)
	}
	if f.httpAddr != "" {
		token, err := readToken(f.tokenFile)
		if err != nil {
			return nil, err
		}
		allow, deny := f.apiPaths()
		users, _, key := kafkaFiles(f, eng.Current()) // the pipeline file's too
		for _, file := range []string{users, key} {
			if file != "" {
				deny = append(deny, file)
			}
		}
		srv := api.New(eng, api.Options{Addr: f.httpAddr, Token: token, TLSCert: f.tlsCert, TLSKey: f.tlsKey,
			Logger: logger, Levels: f.levels, PipelineEnv: pipelineEnv, Version: version,
			SchemaRegistry: registry.Handler(eng.Schemas, logger), AllowPaths: allow, DenyPaths: deny})
		if err := srv.Start(ctx); err != nil {
			return nil, err
		}
		stops = append(stops, func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		})
	}
	if f.file != "" && f.watch {
		stop, err := watchPipeline(ctx, f.file, eng, f.levels, logger)
		if err != nil {
			stopAll()
			return nil, err
		}
		stops = append(stops, stop)
	}
	return stopAll, nil
}

// apiPaths are the directories connectors created over the API may use
// (--allow-path; default the data dir and the working directory), and the
// files they may never touch even there: the log's own store, which holds
// every connector's secrets, the token, the TLS key and the pipeline file.
func (f *runFlags) apiPaths() (allow, deny []string) {
	allow = f.allowPaths
	if len(allow) == 0 {
		allow = []string{f.dataDir, "."}
	}
	deny = []string{filepath.Join(f.dataDir, "jetstream")}
	for _, file := range []string{f.tokenFile, f.tlsKey, f.file, f.kafkaUsers, f.kafkaTLSKey} {
		if file != "" {
			deny = append(deny, file)
		}
	}
	return allow, deny
}

// readToken reads the API token from a file (first line) or BRAID_TOKEN.
func readToken(file string) (string, error) {
	if file == "" {
		return strings.TrimSpace(os.Getenv("BRAID_TOKEN")), nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	token, _, _ := strings.Cut(string(data), "\n")
	token = strings.TrimSpace(token)
	if token == "" {
		return "", fmt.Errorf("--token-file: %s is empty", file)
	}
	return token, nil
}

// pipelineEnv is the environment uploaded pipelines see: the process's,
// without Braid's own token.
func pipelineEnv(name string) (string, bool) {
	if name == "BRAID_TOKEN" {
		return "", false
	}
	return os.LookupEnv(name)
}

// watchPipeline reloads file when it changes. It watches the folder, since
// editors and config managers replace files by renaming.
func watchPipeline(ctx context.Context, file string, eng *engine.Engine, levels *api.Levels, logger *slog.Logger) (func(), error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", file, err)
	}
	if err := w.Add(filepath.Dir(abs)); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("watch %s: %w", file, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	last := fileHash(abs)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		watchLoop(ctx, w, func() {
			// Any event in the folder counts (a Kubernetes ConfigMap swaps a
			// symlink beside the file); only new content reloads.
			h := fileHash(abs)
			if h == "" || h == last {
				return
			}
			last = h
			reload(ctx, file, eng, levels, logger)
		}, logger)
	}()
	logger.Info("watching the pipeline file for changes", "file", file)
	return func() {
		cancel()
		_ = w.Close()
		wg.Wait()
	}, nil
}

// fileHash returns a digest of the file's content ("" when unreadable,
// e.g. in the middle of a rename).
func fileHash(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// watchLoop calls onChange once events in the folder have been quiet for
// reloadDebounce.
func watchLoop(ctx context.Context, w *fsnotify.Watcher, onChange func(), logger *slog.Logger) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Op != fsnotify.Chmod {
				timer.Reset(reloadDebounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			logger.Warn("pipeline file watcher", "err", err)
		case <-timer.C:
			onChange()
		}
	}
}

// reload applies the file again; a file with mistakes is rejected and the
// running pipeline stays as it is.
func reload(ctx context.Context, file string, eng *engine.Engine, levels *api.Levels, logger *slog.Logger) {
	p, lints := pipelines.Load(file, eng.Catalog())
	if len(lints) > 0 {
		eng.Reject(file, lints)
		return
	}
	levels.AddSecrets(api.PipelineSecrets(p)...)
	changes, err := eng.Apply(ctx, p, false)
	if err != nil {
		logger.Error("pipeline reload failed", "pipeline", p.Name, "file", file, "err", err)
		return
	}
	if changes.Empty() {
		logger.Debug("pipeline file changed; nothing to do", "file", file)
		return
	}
	logger.Info("pipeline reloaded", "pipeline", p.Name, "file", file, "changes", strings.TrimSpace(changes.String()))
}
