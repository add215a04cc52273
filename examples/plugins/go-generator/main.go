// Command go-generator is Braid's generator source and file sink built as
// an out-of-process connector plugin. Copy the binary into a --plugin-dir
// and they appear as the connectors go-generator and go-file, beside the
// built-ins they wrap.
package main

import (
	"github.com/braidhq/braid/connectors/file"
	"github.com/braidhq/braid/connectors/generator"
	"github.com/braidhq/braid/connectors/plugin"
	"github.com/braidhq/braid/connectors/sdk"
)

func main() {
	plugin.Serve(renamed(generator.Plugin(), "go-generator"), renamed(file.SinkPlugin(), "go-file"))
}

// renamed gives a built-in another name, so the plugin does not clash with it.
func renamed(p sdk.Plugin, name string) sdk.Plugin {
	p.Spec.Name = name
	return p
}
