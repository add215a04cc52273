// Package load makes the seed example's input: financial transactions in a
// MariaDB table (read by the jdbc-source connector) and website events posted
// in JSON batches to the http-webhook source. Every value is a function of its
// number, so a run and its test know exactly what must come out the other end.
package load
