// Package plugin runs connectors out of process: an executable that speaks
// the protocol in proto/braid/connector/v1 over gRPC on a Unix socket.
//
// The host side (Discover, Load, Merge) finds plugin executables in the plugin
// directories, asks each for its specs, and returns them as sdk.Plugin
// values beside the built-ins; every task then runs in a process of its own,
// started on Open, health-checked while it runs and killed on Close, so a
// plugin that crashes, hangs or speaks garbage fails only its own task,
// which the worker restarts with backoff.
//
// The serve side (Serve) turns any sdk.Plugin into such an executable:
//
//	func main() { plugin.Serve(generator.Plugin()) }
//
// See docs/plugins.md for the protocol and how to write a plugin.
package plugin
