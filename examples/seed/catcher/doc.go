// Package catcher receives what the seed example's sinks send, on loopback:
// an SMTP server that stores every message as an .eml file and an HTTP
// receiver that stores every request body as a .json file. Both keep counts
// that GET /_stats on the HTTP address reports, so a script (or a test) can
// wait until the sinks delivered what it expects.
package catcher
