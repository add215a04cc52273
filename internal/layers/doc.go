// Package layers holds the test that keeps Braid's import rules (docs/architecture.md)
// visible as the code grows: connectors never import the runtime or each other,
// the SDK and the schema packages stay free of the runtime, and so on.
package layers
