// Package email is the email sink: it sends one message per record over SMTP
// (STARTTLS or implicit TLS, PLAIN or LOGIN auth), with subject and bodies
// from templates, a per-minute rate limit and deduplication through the
// connector's Store, so an alert is never sent twice, not even across restarts.
//
// Record values never become raw header lines: the subject is RFC 2047
// encoded and addresses are parsed, with CR and LF rejected.
package email
