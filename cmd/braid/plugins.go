package main

import (
	"context"
	"log/slog"

	"github.com/braidhq/braid/connectors/builtin"
	"github.com/braidhq/braid/connectors/plugin"
	"github.com/braidhq/braid/connectors/sdk"
	"github.com/spf13/pflag"
)

// pluginFlags are the connector plugin settings of run and lint.
type pluginFlags struct {
	dirs []string
}

func (f *pluginFlags) register(fl *pflag.FlagSet) {
	fl.StringArrayVar(&f.dirs, "plugin-dir", nil, "directory of connector plugin executables; repeatable (default: <data-dir>/plugins and ./plugins)")
}

// connectors returns the built-in connectors and those of the plugins found
// in the plugin directories. A plugin that does not start, or that names a
// connector that exists already, is logged and left out.
func (f *pluginFlags) connectors(ctx context.Context, dataDir string, logger *slog.Logger) sdk.Plugins {
	if ctx == nil {
		ctx = context.Background()
	}
	dirs := f.dirs
	if len(dirs) == 0 {
		dirs = plugin.DefaultDirs(dataDir)
	}
	found, err := plugin.Discover(ctx, dirs, plugin.Options{Logger: logger})
	if err != nil {
		logger.Warn("connector plugins", "err", err)
	}
	all, err := plugin.Merge(builtin.Plugins(), found)
	if err != nil {
		logger.Warn("connector plugins", "err", err)
	}
	for _, p := range found {
		logger.Info("connector plugin", "name", p.Spec.Name, "kind", p.Spec.Kind)
	}
	return all
}
