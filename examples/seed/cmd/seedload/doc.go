// Command seedload drives the seed example from outside Braid:
//
//	seedload prepare   recreate the MariaDB transactions table, drop the PostgreSQL targets
//	seedload web       POST website events to the http-webhook source
//	seedload wait      wait until every sink delivered what the load sent, then print a summary
//
// Each subcommand's flags default to the pipeline file's defaults; -h lists them.
package main
