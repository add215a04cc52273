// Command smtpcatcher stands in for the seed example's mail server and
// downstream HTTP service, on loopback: it stores every email as an .eml file
// and every HTTP request body as a .json file, and reports counts at
// GET /_stats. It runs until interrupted.
//
//	smtpcatcher -dir data/seed/out/catcher -smtp 127.0.0.1:2525 -http 127.0.0.1:2580
package main
