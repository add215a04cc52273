// Package http holds Braid's HTTP connectors.
//
// WebhookPlugin is the http-webhook source: an HTTP server that turns request
// bodies into records and answers 200 only after the log has stored them, so a
// client that retries on anything else never loses data. PollPlugin is the
// http-poll source: it fetches a URL at an interval, follows cursor or Link
// pagination and resumes from its stored position. SinkPlugin is the http sink:
// it POSTs or PUTs records one by one or as JSON arrays, with retries and an
// Idempotency-Key derived from the records' log offsets.
//
// The package is named http like its folder; code that also needs net/http
// imports one of them under another name.
package http
