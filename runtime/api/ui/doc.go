// Package ui is Braid's web console, served at /ui/ on the REST API's
// listener: server-rendered HTML (html/template) made live with htmx, both
// embedded in the binary. It reads and changes everything through the REST
// API's own handler, so whatever the console shows or does, the API can.
// It imports none of Braid's other packages (internal/layers checks it).
package ui
